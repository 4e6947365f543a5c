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
        var shapes = [inputShape]
        for (index, layer) in layers.enumerated() {
            shapes.append(try layer.outputShape(for: shapes[index], layerIndex: index))
        }
        return shapes
    }
}
