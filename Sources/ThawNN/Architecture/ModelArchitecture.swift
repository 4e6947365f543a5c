/// A sequential model's shape: the per-sample input shape and the list of layers.
///
/// Layer indices are positions in ``layers``. The activation at index i is the input of layer i (index 0 is the
/// raw input, index L = `layers.count` is the logits), so a ``FreezePoint`` k names both the first head layer
/// and the activation a phone caches.
public struct ModelArchitecture: Hashable, Sendable {
    /// The shape of one input sample, without the batch dimension (e.g. `[1, 28, 28]`).
    public var inputShape: [Int]
    public var layers: [LayerSpec]

    public init(inputShape: [Int], layers: [LayerSpec]) {
        self.inputShape = inputShape
        self.layers = layers
    }

    /// The largest per-sample activation, in elements, a valid architecture may have (256 Mi floats).
    ///
    /// Far above any model Thaw trains; it exists so that an architecture read from an untrusted file
    /// cannot make a forward pass allocate terabytes or overflow an element count.
    public static let maxActivationElements = 1 << 28
    /// The largest total parameter count a valid architecture may have (2 Gi floats), for the same reason.
    public static let maxParameterCount = 1 << 31

    /// The number of layers, L.
    public var layerCount: Int { layers.count }

    /// Checks every layer's sizes and that each layer accepts the previous one's output.
    ///
    /// - Throws: ``ArchitectureError`` naming the first layer that does not fit.
    public func validate() throws(ArchitectureError) {
        _ = try computeActivationShapes()
    }

    /// The per-sample shapes of the L + 1 activations: index 0 is the input, index i the output of layer i − 1.
    ///
    /// - Precondition: the architecture is valid (see ``validate()``).
    public func activationShapes() -> [[Int]] {
        do {
            return try computeActivationShapes()
        } catch {
            preconditionFailure("activationShapes() on an invalid architecture: \(error)")
        }
    }

    /// The per-sample shape after layer `index` (the activation at `index + 1`).
    public func outputShape(afterLayer index: Int) -> [Int] {
        precondition(index >= 0 && index < layers.count, "layer \(index) outside 0..<\(layers.count)")
        return activationShapes()[index + 1]
    }

    /// The per-sample shape of the activation at index `index`, in 0...L.
    public func activationShape(at index: Int) -> [Int] {
        precondition(index >= 0 && index <= layers.count, "activation \(index) outside 0...\(layers.count)")
        return activationShapes()[index]
    }

    /// The number of output classes (the size of the last activation).
    public var outputCount: Int { Tensor.elementCount(activationShapes()[layers.count]) }

    /// The total number of trainable scalars in `layers`.
    public func parameterCount(layers range: Range<Int>) -> Int {
        precondition(range.lowerBound >= 0 && range.upperBound <= layers.count, "layers \(range) outside model")
        return layers[range].reduce(0) { $0 + $1.parameterCount }
    }

    /// The total number of trainable scalars.
    public var parameterCount: Int { parameterCount(layers: 0..<layers.count) }

    /// The architecture of the layers in `range` alone, starting from the activation at `range.lowerBound`.
    public func slice(layers range: Range<Int>) -> ModelArchitecture {
        ModelArchitecture(inputShape: activationShape(at: range.lowerBound), layers: Array(layers[range]))
    }

    private func computeActivationShapes() throws(ArchitectureError) -> [[Int]] {
        guard !inputShape.isEmpty, inputShape.allSatisfy({ $0 > 0 }) else {
            throw ArchitectureError(.invalidInputShape, layerIndex: nil, "input shape \(inputShape)")
        }
        guard !layers.isEmpty else { throw ArchitectureError(.emptyModel, layerIndex: nil, "no layers") }
        try Self.checkSize(inputShape, layerIndex: nil)
        var shapes = [inputShape]
        var parameters = 0
        for (index, layer) in layers.enumerated() {
            // Each input was bounded before the layer sees it, so outputShape's arithmetic cannot overflow.
            let output = try layer.outputShape(for: shapes[index], layerIndex: index)
            try Self.checkSize(output, layerIndex: index)
            guard let count = layer.checkedParameterCount,
                case let (total, overflow) = parameters.addingReportingOverflow(count), !overflow,
                total <= Self.maxParameterCount
            else {
                throw ArchitectureError(
                    .tooLarge, layerIndex: index, "\(layer) takes the model past \(Self.maxParameterCount) parameters")
            }
            parameters = total
            shapes.append(output)
        }
        return shapes
    }

    /// Throws unless `shape` has at most ``maxActivationElements`` elements (checked without overflow).
    private static func checkSize(_ shape: [Int], layerIndex: Int?) throws(ArchitectureError) {
        var product = 1
        for dimension in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow, next <= maxActivationElements else {
                throw ArchitectureError(
                    .tooLarge, layerIndex: layerIndex,
                    "activation \(shape) exceeds \(maxActivationElements) elements per sample")
            }
            product = next
        }
    }
}
