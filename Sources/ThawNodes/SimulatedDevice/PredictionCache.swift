import ThawNN

/// A bounded least-recently-used map from an input to its backbone output, so that predicting the same
/// input again only runs the head.
///
/// Every stored output belongs to one (model version, freeze point); ``invalidate(ifNot:modelVersion:)``
/// drops everything when either changes, since a backbone output is meaningless to another split. Eviction
/// scans for the least recently used entry, O(capacity), which is fine for the few hundred entries a
/// phone keeps.
public struct PredictionCache: Sendable {
    /// What identifies an input: the sample id, or a content hash for inputs without one.
    public enum Key: Hashable, Sendable {
        case sample(UInt64)
        case content(String)
    }

    public let capacity: Int
    public private(set) var modelVersion: ModelVersion
    public private(set) var freezePoint: FreezePoint
    public private(set) var hits = 0
    public private(set) var misses = 0
    private var entries: [Key: (output: Activation, lastUse: UInt64)] = [:]
    private var useCounter: UInt64 = 0

    public init(capacity: Int, modelVersion: ModelVersion, freezePoint: FreezePoint) {
        precondition(capacity > 0, "prediction cache capacity must be positive")
        self.capacity = capacity
        self.modelVersion = modelVersion
        self.freezePoint = freezePoint
    }

    public var count: Int { entries.count }

    /// The cached backbone output for `key`, counting a hit or a miss and refreshing its recency.
    public mutating func lookup(_ key: Key) -> Activation? {
        guard let entry = entries[key] else {
            misses += 1
            return nil
        }
        hits += 1
        useCounter += 1
        entries[key] = (entry.output, useCounter)
        return entry.output
    }

    /// Stores `output` for `key`, evicting the least recently used entry when full.
    public mutating func insert(_ output: Activation, for key: Key) {
        useCounter += 1
        if entries[key] == nil, entries.count >= capacity,
            let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key
        {
            entries.removeValue(forKey: oldest)
        }
        entries[key] = (output, useCounter)
    }

    /// Drops every entry unless the cache already belongs to (`modelVersion`, `freezePoint`), then adopts
    /// them. Returns whether anything was dropped.
    @discardableResult
    public mutating func invalidate(ifNot freezePoint: FreezePoint, modelVersion: ModelVersion) -> Bool {
        guard freezePoint != self.freezePoint || modelVersion != self.modelVersion else { return false }
        self.freezePoint = freezePoint
        self.modelVersion = modelVersion
        let dropped = !entries.isEmpty
        entries.removeAll()
        return dropped
    }

    /// Drops every entry (app termination, or a sample invalidated by the coordinator).
    public mutating func removeAll() { entries.removeAll() }

    /// The stored outputs (for memory accounting).
    var outputs: some Sequence<Activation> { entries.values.lazy.map(\.output) }

    /// Bytes of the entry table itself (not the outputs), for memory accounting.
    var tableBytes: Int {
        MemoryFootprint.dictionary(capacity: entries.capacity, key: Key.self, value: (output: Activation, lastUse: UInt64).self)
    }

    /// Drops one entry.
    public mutating func remove(_ key: Key) { entries.removeValue(forKey: key) }
}
