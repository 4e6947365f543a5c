import ThawNN

/// The device's store of backbone activations, with the FedEx eviction rules and a byte budget.
///
/// Eviction rules (each a method the device calls on the matching event):
/// - a new model version evicts every entry stamped with an older version (``evictOlderModels(than:)``);
/// - a new hyper-parameter hash evicts every entry stamped with another hash
///   (``evictHyperParameterMismatch(current:)``);
/// - app termination evicts every unannotated entry (``evictUnannotated()``); annotated ones are persisted
///   by ``DeviceCacheStore`` and survive the restart;
/// - a freeze-point move evicts nothing but makes entries stale; ``planRebuild(to:modelVersion:)`` says
///   how to recompute each one cheaply.
///
/// Capacity: ``byteCount`` counts activation and checkpoint payloads. When an insert exceeds
/// ``capacityBytes``, space is reclaimed in this order, each step oldest entry first (by `createdAt`, then
/// sample id), stopping as soon as the cache fits:
/// 1. checkpoints of any entry (they only save recomputation);
/// 2. unannotated entries (only used for predictions);
/// 3. annotated entries the registry already holds durably (`.durable`), which can be recomputed from the
///    raw input if they are ever needed again.
/// Annotated entries not yet durable are never evicted for space: the cache may then stay over capacity
/// (``isOverCapacity``), which the device treats as a reason to flush. An unannotated insert that cannot
/// fit is rejected instead.
public struct ActivationCache: Sendable {
    public enum InsertOutcome: Sendable, Equatable {
        /// Stored; the listed entries were evicted (or lost their checkpoints) to make room.
        case stored(evicted: [UInt64])
        /// Not stored: an unannotated entry that does not fit without evicting protected entries.
        case rejected
    }

    public let capacityBytes: Int
    public private(set) var byteCount = 0
    private var entries: [UInt64: CachedActivation] = [:]

    public init(capacityBytes: Int) {
        precondition(capacityBytes > 0, "cache capacity must be positive")
        self.capacityBytes = capacityBytes
    }

    public var count: Int { entries.count }
    public var isOverCapacity: Bool { byteCount > capacityBytes }

    public subscript(sampleId: UInt64) -> CachedActivation? { entries[sampleId] }

    /// Every entry, in ascending sample id order (deterministic for tests and files).
    public var allEntries: [CachedActivation] { entries.values.sorted { $0.sampleId < $1.sampleId } }

    /// Every entry in no particular order, without copying or sorting them first (for counts and
    /// minima a phone computes at every tick).
    public var unorderedEntries: Dictionary<UInt64, CachedActivation>.Values { entries.values }

    /// Stores `entry`, replacing any entry with the same sample id, then enforces the byte budget.
    public mutating func insert(_ entry: CachedActivation) -> InsertOutcome {
        let previous = remove(entry.sampleId)
        if !entry.annotated, entry.byteCount - entry.checkpointByteCount > capacityBytes - protectedBytes {
            if let previous { put(previous) }
            return .rejected
        }
        put(entry)
        return .stored(evicted: reclaimSpace(keeping: entry.sampleId))
    }

    /// Removes and returns the entry for `sampleId`.
    @discardableResult
    public mutating func remove(_ sampleId: UInt64) -> CachedActivation? {
        guard let entry = entries.removeValue(forKey: sampleId) else { return nil }
        byteCount -= entry.byteCount
        return entry
    }

    /// Sets the upload state of the listed entries that exist.
    public mutating func setUpload(_ state: UploadState, for sampleIds: some Sequence<UInt64>) {
        for id in sampleIds { entries[id]?.upload = state }
    }

    /// Evicts entries produced by a model older than `current`; returns them (ascending id).
    public mutating func evictOlderModels(than current: ModelVersion) -> [CachedActivation] {
        evict { $0.stamp.modelVersion < current }
    }

    /// Evicts entries trained under other hyper-parameters; returns them (ascending id).
    public mutating func evictHyperParameterMismatch(current: String) -> [CachedActivation] {
        evict { $0.stamp.hyperParameterHash != current }
    }

    /// Evicts every unannotated entry (app termination); returns them (ascending id).
    public mutating func evictUnannotated() -> [CachedActivation] { evict { !$0.annotated } }

    /// Plans the cheapest recomputation of every entry not already at `target` under `modelVersion`.
    ///
    /// For each entry the source is the stored activation with the largest layer index at or below
    /// `target`, counting both checkpoints and the entry's own activation (the output at its old freeze
    /// point); without one, the raw input. Activations from another model version are never used.
    public func planRebuild(to target: FreezePoint, modelVersion: ModelVersion) -> RebuildPlan {
        var steps: [RebuildPlan.Step] = []
        for entry in allEntries where entry.stamp.freezePoint != target || entry.stamp.modelVersion != modelVersion {
            var best: (layer: Int, activation: Activation)?
            if entry.stamp.modelVersion == modelVersion {
                var candidates = entry.checkpoints.map { (layer: $0.key, activation: $0.value) }
                candidates.append((entry.stamp.freezePoint.index, entry.activation))
                for candidate in candidates where candidate.layer <= target.index && candidate.layer > 0 {
                    if best == nil || candidate.layer > best!.layer { best = candidate }
                }
            }
            let source: RebuildPlan.Source = best.map { .activation(layer: $0.layer, $0.activation) } ?? .rawInput
            steps.append(RebuildPlan.Step(sampleId: entry.sampleId, source: source))
        }
        return RebuildPlan(modelVersion: modelVersion, target: target, steps: steps)
    }

    /// Bytes of the entry table itself (not the activations it points to), for memory accounting.
    var tableBytes: Int { MemoryFootprint.dictionary(capacity: entries.capacity, key: UInt64.self, value: CachedActivation.self) }

    // MARK: - Internals

    private mutating func put(_ entry: CachedActivation) {
        entries[entry.sampleId] = entry
        byteCount += entry.byteCount
    }

    private mutating func evict(where shouldEvict: (CachedActivation) -> Bool) -> [CachedActivation] {
        let victims = allEntries.filter(shouldEvict)
        for victim in victims { remove(victim.sampleId) }
        return victims
    }

    /// Bytes that space reclamation may not free: activations of annotated, not-yet-durable entries.
    private var protectedBytes: Int {
        entries.values.reduce(0) { total, entry in
            guard entry.annotated, !isDurable(entry) else { return total }
            return total + entry.activation.byteCount
        }
    }

    private func isDurable(_ entry: CachedActivation) -> Bool {
        if case .durable = entry.upload { return true }
        return false
    }

    /// Applies the documented eviction order until the cache fits; returns the ids touched.
    private mutating func reclaimSpace(keeping kept: UInt64) -> [UInt64] {
        var touched: [UInt64] = []
        let byAge = entries.values.sorted { ($0.createdAt, $0.sampleId) < ($1.createdAt, $1.sampleId) }.map(\.sampleId)
        for id in byAge where isOverCapacity {
            guard var entry = entries[id], !entry.checkpoints.isEmpty else { continue }
            byteCount -= entry.checkpointByteCount
            entry.checkpoints = [:]
            entries[id] = entry
            touched.append(id)
        }
        for id in byAge where isOverCapacity && id != kept {
            if let entry = entries[id], !entry.annotated {
                remove(id)
                touched.append(id)
            }
        }
        for id in byAge where isOverCapacity && id != kept {
            if let entry = entries[id], entry.annotated, isDurable(entry) {
                remove(id)
                touched.append(id)
            }
        }
        var seen: Set<UInt64> = []
        return touched.filter { seen.insert($0).inserted }
    }
}
