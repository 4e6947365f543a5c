import ThawNN

/// Advances stored activations to a deeper freeze point inside the registry, one page per call, so the
/// node keeps answering requests in between ("in the background" on the node's one task).
///
/// Why the registry and not the workers: the activations live in the registry's database. A worker
/// would fetch every row over the wire, run a few layers and send the result back — twice the bytes of
/// the feature store over the network for a computation (layers `[k, k')` for one sample) that costs less
/// than decoding the row. The registry already holds the base model checkpoint, and it is the one writer
/// of the store, so no two workers race to advance the same page. Workers stay stateless: the registry
/// asks them to retrain users once their rows are advanced (``Step/finished(state:retrain:)``).
///
/// Versioned: the target is a full ``DeploymentState``; only rows of the same model version and
/// hyper-parameters are advanced, each inserted as a new row stamped with the target and linked to its
/// source. Resumable: the work list is "rows without a counterpart at the target", recomputed from the
/// database on every page, so a registry killed half-way continues where it stopped after its first
/// heartbeat. A shallower or unchanged target has no work: rows cannot be moved backwards.
///
/// Thread rule: a value owned by the registry node's task; every call blocks on the store.
public struct FeatureAdvancer: Sendable {
    /// Runs layers `[from, to)` on a stack of same-shaped activations; nil when the model refuses the
    /// shape (the rows are skipped and counted, never crash the registry).
    public typealias Advance = (_ rows: [StoredActivations], _ from: Int, _ to: Int) -> [StoredActivations]?

    public enum Step: Equatable, Sendable {
        /// Nothing to do (no target, or the target was finished already).
        case idle
        /// One page was advanced; call again.
        case advanced(rows: Int, skipped: Int)
        /// Every row is at the target: these users need a head trained under it.
        case finished(state: DeploymentState, retrain: [UserID])
    }

    public let pageSize: Int
    public private(set) var target: DeploymentState?
    public private(set) var finished = false
    public private(set) var rowsAdvanced = 0
    public private(set) var rowsSkipped = 0
    private var cursor: Int64 = 0

    public init(pageSize: Int = 64) {
        precondition(pageSize > 0, "page size must be positive")
        self.pageSize = pageSize
    }

    /// Follows the coordinator's newest state. A new model version, freeze point or hyper-parameter hash
    /// starts a new job (which finds no work unless rows exist below the new point).
    public mutating func follow(_ state: DeploymentState) {
        if let target, state.epoch <= target.epoch { return }
        let changed = target.map { FeatureStamps($0) != FeatureStamps(state) } ?? true
        target = state
        if changed {
            finished = false
            cursor = 0
        }
    }

    /// Advances one page toward the target.
    /// - Throws: the store's errors (the page is not written; the next call retries it).
    public mutating func step(store: any RegistryBackend, advance: Advance) throws -> Step {
        guard let target, !finished else { return .idle }
        let stamps = FeatureStamps(target)
        let page = try store.samplesToAdvance(to: stamps, after: cursor, limit: pageSize)
        guard let last = page.last else {
            finished = true
            cursor = 0
            return .finished(state: target, retrain: try store.usersNeedingHeads(at: stamps))
        }
        var advanced: [AdvancedFeature] = []
        var skipped = 0
        // One stacked pass per (source point, shape): a page mixes rows from several earlier moves.
        let groups = Dictionary(grouping: page) { [$0.stamps.freezePoint.index] + $0.activations.shape }
        for key in groups.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            let rows = groups[key]!
            let from = key[0]
            if let outputs = advance(rows.map(\.activations), from, stamps.freezePoint.index),
                outputs.count == rows.count
            {
                advanced += zip(rows, outputs).map { AdvancedFeature(sourceID: $0.id, activations: $1) }
            } else {
                skipped += rows.count
            }
        }
        if !advanced.isEmpty { try store.advanceFeatures(advanced, to: stamps) }
        // Rows that failed stay behind the cursor for this job; a restart tries them once more.
        cursor = skipped > 0 ? last.id : cursor
        rowsAdvanced += advanced.count
        rowsSkipped += skipped
        return .advanced(rows: advanced.count, skipped: skipped)
    }
}

extension FeatureAdvancer {
    /// The production ``Advance``: runs `model`'s layers on the stacked rows, refusing rows whose shape
    /// is not the model's activation shape at `from`.
    public static func modelAdvance(_ model: Model) -> Advance {
        let shapes = model.architecture.activationShapes()
        return { rows, from, to in
            guard from >= 0, from < to, to < shapes.count, let first = rows.first,
                rows.allSatisfy({ $0.shape == shapes[from] }), first.shape == shapes[from]
            else { return nil }
            var scalars: [Float] = []
            scalars.reserveCapacity(rows.count * first.scalars.count)
            for row in rows { scalars += row.scalars }
            let output = model.advance(
                checkpoint: Tensor(shape: [rows.count] + first.shape, scalars: scalars), from: from, to: to)
            let width = output.scalars.count / rows.count
            return (0..<rows.count).map { index in
                StoredActivations(
                    shape: shapes[to], scalars: Array(output.scalars[(index * width)..<((index + 1) * width)]))
            }
        }
    }
}
