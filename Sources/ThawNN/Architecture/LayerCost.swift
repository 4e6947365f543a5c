/// The arithmetic one sample costs in one layer, for the energy and time models.
///
/// A MAC is one multiply-add. Elementwise operations (ReLU, pooling comparisons, dropout, bias adds) are
/// counted separately because they are memory-bound and cost far less per operation than a MAC in a GEMM.
public struct LayerCost: Hashable, Sendable {
    /// Multiply-adds in the forward pass.
    public var forwardMACs: Int
    /// Multiply-adds to accumulate the weight gradient (zero for layers without parameters).
    public var backwardWeightMACs: Int
    /// Multiply-adds to compute the input gradient (skipped for the first layer of a head).
    public var backwardInputMACs: Int
    /// Elementwise operations in the forward pass (the backward pass does about as many).
    public var elementwiseOps: Int

    public init(forwardMACs: Int, backwardWeightMACs: Int, backwardInputMACs: Int, elementwiseOps: Int) {
        self.forwardMACs = forwardMACs
        self.backwardWeightMACs = backwardWeightMACs
        self.backwardInputMACs = backwardInputMACs
        self.elementwiseOps = elementwiseOps
    }

    /// Backward multiply-adds, with or without the input gradient.
    public func backwardMACs(includingInputGradient: Bool) -> Int {
        backwardWeightMACs + (includingInputGradient ? backwardInputMACs : 0)
    }
}

extension ModelArchitecture {
    /// The per-sample cost of layer `index`.
    public func cost(ofLayer index: Int) -> LayerCost {
        let shapes = activationShapes()
        let output = shapes[index + 1]
        let outputCount = Tensor.elementCount(output)
        switch layers[index] {
        case .dense(let inputs, let outputs):
            let macs = inputs * outputs
            return LayerCost(
                forwardMACs: macs, backwardWeightMACs: macs, backwardInputMACs: macs, elementwiseOps: outputs)
        case .conv2D(let inChannels, _, let kernel, _, _):
            let macs = outputCount * inChannels * kernel * kernel
            return LayerCost(
                forwardMACs: macs, backwardWeightMACs: macs, backwardInputMACs: macs, elementwiseOps: outputCount)
        case .maxPool2D(let size, _):
            return LayerCost(
                forwardMACs: 0, backwardWeightMACs: 0, backwardInputMACs: 0, elementwiseOps: outputCount * size * size)
        case .relu, .dropout:
            return LayerCost(forwardMACs: 0, backwardWeightMACs: 0, backwardInputMACs: 0, elementwiseOps: outputCount)
        case .flatten:
            return LayerCost(forwardMACs: 0, backwardWeightMACs: 0, backwardInputMACs: 0, elementwiseOps: 0)
        }
    }

    /// Per-sample forward multiply-adds over `layers`.
    public func forwardMACs(layers range: Range<Int>) -> Int {
        range.reduce(0) { $0 + cost(ofLayer: $1).forwardMACs }
    }

    /// Per-sample backward multiply-adds for training the head `range`: weight gradients everywhere and input
    /// gradients for every layer but the first (nothing upstream needs them).
    public func backwardMACs(layers range: Range<Int>) -> Int {
        range.reduce(0) { total, index in
            total + cost(ofLayer: index).backwardMACs(includingInputGradient: index != range.lowerBound)
        }
    }
}
