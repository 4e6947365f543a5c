/// The named layout of a model's flat parameter buffer, derived from the architecture alone.
extension ModelArchitecture {
    /// Every parameter slice in buffer order: for each layer with parameters, `layer<i>.<kind>.weight` then
    /// `layer<i>.<kind>.bias`. Model files store their tensor table in this order.
    public func parameterSlices() -> [ParameterBuffer.Slice] {
        var slices: [ParameterBuffer.Slice] = []
        var offset = 0
        for (index, spec) in layers.enumerated() {
            let shapes: [(String, [Int])]
            switch spec {
            case .dense(let inputs, let outputs): shapes = [("weight", [outputs, inputs]), ("bias", [outputs])]
            case .conv2D(let inChannels, let outChannels, let kernel, _, _):
                shapes = [("weight", [outChannels, inChannels, kernel, kernel]), ("bias", [outChannels])]
            case .relu, .maxPool2D, .flatten, .dropout: shapes = []
            }
            for (suffix, shape) in shapes {
                let count = Tensor.elementCount(shape)
                slices.append(
                    ParameterBuffer.Slice(
                        name: "layer\(index).\(spec.kindName).\(suffix)", layerIndex: index,
                        range: offset..<(offset + count), shape: shape))
                offset += count
            }
        }
        return slices
    }
}
