import ThawNN

/// One stored copy of equal backbone outputs across a device process's phones.
///
/// The phones of one process act for a few dozen writers (10,000 phones share the shipped test set's
/// writers), and the phones of a writer walk the same sample stream: each of them computes, caches and
/// uploads the output of the same layers for the same sample. A real phone holds its own copy; the
/// simulator keeps one copy of equal bits: a newly computed output (or checkpoint) is looked up by
/// (model version, layer, sample id), and if the stored one has **the same bits** (compared, not
/// assumed: a batched pass may round differently from another batch) the new activation uses that
/// storage. Nothing a phone sees changes: its activation holds exactly the floats computed for it or
/// bit-identical ones, its cache counts 4 bytes per scalar as before (docs/DEVICE.md), and what it
/// uploads is those floats.
///
/// A table entry whose storage no activation uses any more is dropped at the next prune (when the
/// table has doubled since the last one), so the table holds only what some phone still holds, plus
/// what was computed since.
///
/// Confined to the fleet's compute queue (every backbone pass and rebuild runs there).
final class ActivationInterner: @unchecked Sendable {
    // @unchecked: only ever touched by jobs on one serial `FleetCompute` queue. The storages it hands
    // out are immutable; a storage only it references cannot gain a reference anywhere but here.
    struct Key: Hashable {
        var modelVersion: UInt64
        /// The output of layers `[0, layer)`.
        var layer: Int
        var sampleId: UInt64
    }

    private var table: [Key: Activation] = [:]
    private var pruneAt: Int
    private let minimumPrune: Int
    /// Activations that found an equal stored copy, and those stored as new.
    private(set) var shared = 0
    private(set) var stored = 0

    init(minimumPrune: Int = 4096) {
        self.minimumPrune = minimumPrune
        self.pruneAt = minimumPrune
    }

    var count: Int { table.count }

    /// The stored output of layers `[0, layer)` for `sampleId` under `modelVersion`, if one is held
    /// (the fleet then does not compute it again: ``DeviceFleet/startBackboneJob()``).
    func lookup(modelVersion: ModelVersion, layer: Int, sampleId: UInt64) -> Activation? {
        table[Key(modelVersion: modelVersion.number, layer: layer, sampleId: sampleId)]
    }

    /// `activation`, over the stored copy of equal bits for the same (model version, layer, sample)
    /// if there is one; otherwise `activation` itself, which becomes the stored copy.
    func intern(_ activation: Activation, modelVersion: ModelVersion, layer: Int, sampleId: UInt64) -> Activation {
        let key = Key(modelVersion: modelVersion.number, layer: layer, sampleId: sampleId)
        if let known = table[key] {
            if known.storage === activation.storage { return activation }
            if known.storage.scalars.hasSameBits(as: activation.storage.scalars) {
                shared += 1
                return Activation(shape: activation.shape, storage: known.storage)
            }
        }
        stored += 1
        table[key] = activation
        if table.count >= pruneAt { prune() }
        return activation
    }

    /// Drops the entries no activation outside the table uses.
    func prune() {
        var unused: [Key] = []
        var index = table.startIndex
        while index != table.endIndex {
            if isKnownUniquelyReferenced(&table.values[index].storage) { unused.append(table.keys[index]) }
            index = table.index(after: index)
        }
        for key in unused { table.removeValue(forKey: key) }
        pruneAt = max(minimumPrune, table.count * 2)
    }
}
