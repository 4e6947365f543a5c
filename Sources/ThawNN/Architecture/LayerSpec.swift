/// The description of one layer: what it computes and its sizes, with no parameters attached.
///
/// Convolutions and pooling use NCHW; a layer's per-sample input shape is `[channels, height, width]` for the
/// spatial layers and `[features]` for ``dense(inputs:outputs:)``.
public enum LayerSpec: Hashable, Sendable {
    /// `[inputs] → [outputs]`, y = x·Wᵀ + b with W stored `[outputs, inputs]`.
    case dense(inputs: Int, outputs: Int)
    /// `[inChannels, H, W] → [outChannels, H', W']` with a square `kernel`, H' = (H + 2·padding − kernel)/stride + 1.
    case conv2D(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int)
    /// max(0, x), elementwise.
    case relu
    /// `[C, H, W] → [C, H', W']`, H' = (H − size)/stride + 1 (floor), the max of each window.
    case maxPool2D(size: Int, stride: Int)
    /// Any per-sample shape to `[product]`.
    case flatten
    /// Zeroes each value with probability `rate` in training and scales the rest by 1/(1−rate).
    case dropout(rate: Float)

    /// The number of trainable scalars (weights then biases).
    public var parameterCount: Int {
        switch self {
        case .dense(let inputs, let outputs): return inputs * outputs + outputs
        case .conv2D(let inChannels, let outChannels, let kernel, _, _):
            return outChannels * inChannels * kernel * kernel + outChannels
        case .relu, .maxPool2D, .flatten, .dropout: return 0
        }
    }

    /// ``parameterCount`` computed without trapping: `nil` when it overflows `Int` (only an architecture
    /// from untrusted bytes can get there; ``ModelArchitecture/validate()`` refuses it).
    var checkedParameterCount: Int? {
        func product(_ factors: Int...) -> Int? {
            var result = 1
            for factor in factors {
                let (next, overflow) = result.multipliedReportingOverflow(by: factor)
                if overflow { return nil }
                result = next
            }
            return result
        }
        switch self {
        case .dense(let inputs, let outputs):
            guard let weights = product(inputs, outputs) else { return nil }
            let (total, overflow) = weights.addingReportingOverflow(outputs)
            return overflow ? nil : total
        case .conv2D(let inChannels, let outChannels, let kernel, _, _):
            guard let weights = product(outChannels, inChannels, kernel, kernel) else { return nil }
            let (total, overflow) = weights.addingReportingOverflow(outChannels)
            return overflow ? nil : total
        case .relu, .maxPool2D, .flatten, .dropout: return 0
        }
    }

    /// A short lower-case name used in parameter slice names (`"dense"`, `"conv2d"`, ...).
    public var kindName: String {
        switch self {
        case .dense: return "dense"
        case .conv2D: return "conv2d"
        case .relu: return "relu"
        case .maxPool2D: return "maxpool2d"
        case .flatten: return "flatten"
        case .dropout: return "dropout"
        }
    }

    /// The per-sample output shape for a per-sample input shape.
    ///
    /// - Throws: ``ArchitectureError`` naming `layerIndex` when the sizes are invalid or the input does not fit.
    func outputShape(for input: [Int], layerIndex: Int) throws(ArchitectureError) -> [Int] {
        func failure(_ code: ArchitectureError.Code) -> ArchitectureError {
            ArchitectureError(code, layerIndex: layerIndex, "\(self) cannot take input \(input)")
        }
        switch self {
        case .dense(let inputs, let outputs):
            guard inputs > 0, outputs > 0 else { throw failure(.invalidParameter) }
            guard input == [inputs] else { throw failure(.shapeMismatch) }
            return [outputs]
        case .conv2D(let inChannels, let outChannels, let kernel, let stride, let padding):
            guard inChannels > 0, outChannels > 0, kernel > 0, stride > 0, padding >= 0 else {
                throw failure(.invalidParameter)
            }
            guard input.count == 3, input[0] == inChannels else { throw failure(.shapeMismatch) }
            let height = (input[1] + 2 * padding - kernel)
            let width = (input[2] + 2 * padding - kernel)
            guard height >= 0, width >= 0 else { throw failure(.shapeMismatch) }
            return [outChannels, height / stride + 1, width / stride + 1]
        case .maxPool2D(let size, let stride):
            guard size > 0, stride > 0 else { throw failure(.invalidParameter) }
            guard input.count == 3, input[1] >= size, input[2] >= size else { throw failure(.shapeMismatch) }
            return [input[0], (input[1] - size) / stride + 1, (input[2] - size) / stride + 1]
        case .flatten:
            return [Tensor.elementCount(input)]
        case .relu:
            return input
        case .dropout(let rate):
            guard rate >= 0, rate < 1 else { throw failure(.invalidParameter) }
            return input
        }
    }
}
