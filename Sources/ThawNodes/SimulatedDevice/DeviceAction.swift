import ThawNN

/// A trained head as announced by the registry: which training produced it and for which split.
public struct HeadInfo: Sendable, Equatable {
    public var version: UInt64
    public var hash: String
    /// The split and base model the head was trained for; it only fits a backbone with the same ones.
    public var freezePoint: FreezePoint
    public var modelVersion: ModelVersion
    /// Bytes downloaded, for radio energy.
    public var byteCount: Int

    public init(version: UInt64, hash: String, freezePoint: FreezePoint, modelVersion: ModelVersion, byteCount: Int = 0)
    {
        self.version = version
        self.hash = hash
        self.freezePoint = freezePoint
        self.modelVersion = modelVersion
        self.byteCount = byteCount
    }
}

/// One upload of annotated activations, all with the same stamps.
public struct DeviceBatch: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var sampleId: UInt64
        public var label: Int
        public var activation: Activation

        public init(sampleId: UInt64, label: Int, activation: Activation) {
            self.sampleId = sampleId
            self.label = label
            self.activation = activation
        }
    }

    public var seq: UInt64
    public var stamp: ActivationStamp
    public var entries: [Entry]
    /// 1 for the first send, more for at-least-once retries of the same sequence.
    public var attempt: Int

    public init(seq: UInt64, stamp: ActivationStamp, entries: [Entry], attempt: Int) {
        self.seq = seq
        self.stamp = stamp
        self.entries = entries
        self.attempt = attempt
    }

    /// Bytes on the wire, approximately: payloads plus 16 bytes of id and label per entry.
    public var byteCount: Int { entries.reduce(0) { $0 + $1.activation.byteCount + 16 } }
}

/// Why the registry refused a batch.
public enum BatchRejectionReason: Sendable, Equatable {
    case staleModel
    case staleFreezePoint
    case staleHyperParameters
    case invalid
}

/// What the device glue must do after an event, in order.
public enum DeviceAction: Sendable, Equatable {
    /// Load the base model's backbone (a new version was announced).
    case loadBackbone(modelVersion: ModelVersion, modelHash: String)
    /// Run layers `[0, upTo)` on the raw sample, keeping the outputs at `checkpointsAt`, then report
    /// `backboneComputed` with the stamps used.
    case computeBackbone(sampleId: UInt64, modelVersion: ModelVersion, upTo: FreezePoint, checkpointsAt: [Int])
    /// Recompute stale entries from the plan's sources, reporting each through `backboneComputed`.
    case rebuildActivations(RebuildPlan)
    /// Run the current head on a backbone output and show the prediction.
    case runHead(sampleId: UInt64, backboneOutput: Activation)
    /// Backbone outputs computed before a model or freeze change are no longer valid: drop any
    /// prediction derived from them.
    case discardPredictions
    /// Send (or re-send) a feature batch to the registry.
    case sendBatch(DeviceBatch)
    /// Ask the registry for the newest head; `haveHash` lets it answer "not modified".
    case requestHead(haveHash: String?)
    /// Start using this head (it matches the current freeze point and model version).
    case swapHead(HeadInfo)
    /// Write this snapshot with ``DeviceCacheStore`` before doing the actions that follow it.
    case persistCache(DeviceSnapshot)
    /// After a shallower freeze move: ask the registry which of `sampleIds` it lacks under `stamp`, and
    /// report the answer with `freezeSyncReceived` (or, if the registry cannot be reached, report all of
    /// them missing).
    case syncFreezeMove(stamp: ActivationStamp, sampleIds: [UInt64])
}
