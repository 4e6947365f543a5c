/// Weight initialisation from a ``SeededGenerator``.
public enum Initialization {
    /// He normal, std = √(2 / fanIn): keeps activation variance through ReLU layers.
    public static func he(fanIn: Int, count: Int, generator: inout SeededGenerator) -> [Float] {
        let std = Float((2.0 / Double(fanIn)).squareRoot())
        return (0..<count).map { _ in generator.nextGaussian() * std }
    }

    /// Xavier (Glorot) normal, std = √(2 / (fanIn + fanOut)): for a layer not followed by a ReLU.
    public static func xavier(fanIn: Int, fanOut: Int, count: Int, generator: inout SeededGenerator) -> [Float] {
        let std = Float((2.0 / Double(fanIn + fanOut)).squareRoot())
        return (0..<count).map { _ in generator.nextGaussian() * std }
    }

    /// Fills every weight slice of `buffer` layer by layer in order; biases are zero.
    ///
    /// A layer whose next layer is a ReLU gets He, any other Xavier.
    static func initialize(_ buffer: ParameterBuffer, architecture: ModelArchitecture, generator: inout SeededGenerator)
    {
        var offset = 0
        for (index, spec) in architecture.layers.enumerated() {
            let fans: (fanIn: Int, fanOut: Int, weights: Int)?
            switch spec {
            case .dense(let inputs, let outputs): fans = (inputs, outputs, inputs * outputs)
            case .conv2D(let inChannels, let outChannels, let kernel, _, _):
                let area = kernel * kernel
                fans = (inChannels * area, outChannels * area, outChannels * inChannels * area)
            case .relu, .maxPool2D, .flatten, .dropout: fans = nil
            }
            if let fans {
                let beforeReLU = index + 1 < architecture.layers.count && architecture.layers[index + 1] == .relu
                let weights =
                    beforeReLU
                    ? he(fanIn: fans.fanIn, count: fans.weights, generator: &generator)
                    : xavier(fanIn: fans.fanIn, fanOut: fans.fanOut, count: fans.weights, generator: &generator)
                buffer.values.replaceSubrange(offset..<(offset + fans.weights), with: weights)
            }
            offset += spec.parameterCount
        }
    }
}
