/// Floating-point operations a ``Model`` has executed, split by pass, for the device time and energy models.
///
/// A multiply-add counts as two FLOPs; elementwise operations (ReLU, pooling comparisons, dropout masks, bias
/// adds, im2col copies excluded) count as one. The counts come from ``LayerCost`` per sample times the batch
/// size of every layer call that actually ran, so a device that skips a layer (a cached activation, a head
/// that needs no input gradient) is not charged for it.
public struct FLOPCount: Hashable, Sendable {
    /// Forward passes (inference and training).
    public var forward: Int
    /// Backward passes: weight gradients and, where requested, input gradients.
    public var backward: Int
    /// Optimiser updates, a fixed number of FLOPs per trained parameter (see ``Model/optimizerFLOPsPerParameter``).
    public var optimizer: Int

    public init(forward: Int = 0, backward: Int = 0, optimizer: Int = 0) {
        self.forward = forward
        self.backward = backward
        self.optimizer = optimizer
    }

    public var total: Int { forward + backward + optimizer }

    public static func + (lhs: FLOPCount, rhs: FLOPCount) -> FLOPCount {
        FLOPCount(
            forward: lhs.forward + rhs.forward, backward: lhs.backward + rhs.backward,
            optimizer: lhs.optimizer + rhs.optimizer)
    }

    public static func - (lhs: FLOPCount, rhs: FLOPCount) -> FLOPCount {
        FLOPCount(
            forward: lhs.forward - rhs.forward, backward: lhs.backward - rhs.backward,
            optimizer: lhs.optimizer - rhs.optimizer)
    }
}

extension LayerCost {
    /// FLOPs of one forward pass of `samples` samples.
    public func forwardFLOPs(samples: Int) -> Int { samples * (2 * forwardMACs + elementwiseOps) }

    /// FLOPs of one backward pass of `samples` samples, with or without the input gradient.
    public func backwardFLOPs(samples: Int, includingInputGradient: Bool) -> Int {
        samples * (2 * backwardMACs(includingInputGradient: includingInputGradient) + elementwiseOps)
    }
}

extension ModelArchitecture {
    /// The FLOPs one ``Model/trainStep(input:labels:freezePoint:optimizer:)`` of `samples` samples executes on
    /// the head `[k, L)`: forward, backward (no input gradient for the first head layer) and the optimiser.
    ///
    /// Equal, by construction, to what the model's counter adds for the same step; used to price work that a
    /// simulation does not run (a phone's training at a model size too large to execute here).
    public func trainingStepFLOPs(freezePoint: FreezePoint, samples: Int) -> FLOPCount {
        let head = freezePoint.index..<layerCount
        var count = FLOPCount()
        for index in head {
            let cost = cost(ofLayer: index)
            count.forward += cost.forwardFLOPs(samples: samples)
            count.backward += cost.backwardFLOPs(samples: samples, includingInputGradient: index > head.lowerBound)
        }
        count.optimizer = Model.optimizerFLOPsPerParameter * parameterCount(layers: head)
        return count
    }

    /// The FLOPs of running layers `range` forward on `samples` samples.
    public func forwardFLOPs(layers range: Range<Int>, samples: Int) -> Int {
        range.reduce(0) { $0 + cost(ofLayer: $1).forwardFLOPs(samples: samples) }
    }
}
