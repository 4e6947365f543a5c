import ThawNN

/// How to bring cached activations to a new freeze point with the least recomputation.
public struct RebuildPlan: Sendable, Equatable {
    /// Where one entry's recomputation starts.
    public enum Source: Sendable, Equatable {
        /// Run layers `[layer, target)` on this stored activation (the output of layers `[0, layer)`).
        case activation(layer: Int, Activation)
        /// Nothing usable is stored: run layers `[0, target)` on the raw input from the sample store.
        case rawInput
    }

    public struct Step: Sendable, Equatable {
        public var sampleId: UInt64
        public var source: Source

        public init(sampleId: UInt64, source: Source) {
            self.sampleId = sampleId
            self.source = source
        }

        /// The first layer to run: 0 for raw input.
        public var startLayer: Int {
            if case .activation(let layer, _) = source { return layer }
            return 0
        }
    }

    public var modelVersion: ModelVersion
    public var target: FreezePoint
    /// One step per entry, in ascending sample id order.
    public var steps: [Step]

    public init(modelVersion: ModelVersion, target: FreezePoint, steps: [Step]) {
        self.modelVersion = modelVersion
        self.target = target
        self.steps = steps
    }

    /// Layers to run in total; the sum the planner minimises entry by entry.
    public var layerRuns: Int { steps.reduce(0) { $0 + (target.index - $1.startLayer) } }
}
