import Dispatch
import Foundation
import Synchronization
import ThawModel
import ThawNN
import ThawWire

/// Runs the ``ModelRegistryStateMachine``'s store operations off the event loop, on two dedicated
/// threads: one writer and one reader (SQLite in WAL mode serves reads from snapshots while a write is
/// under way, so a 6 MB head read never waits behind a group commit, nor the reverse).
///
/// Group commit: the writer takes every write queued since its last transaction and runs them in one
/// transaction, each in its own savepoint (one refused write does not undo the others); results are
/// delivered only after the transaction committed, so nothing is acknowledged that was not kept.
/// Operations that open their own transactions (base model uploads, freeze-move requests) run alone.
/// When the writer has been idle for `idleCheckpoint` after writing, it runs a PASSIVE WAL checkpoint.
///
/// Thread rule: ``submit(_:_:)`` from any thread; `deliver` is called on the storage threads.
final class RegistryStorage: Sendable {
    typealias Deliver = @Sendable (UInt64, ModelRegistryStateMachine.StoreResult) -> Void

    private let store: any RegistryBackend
    private let writer: Lane
    private let reader: Lane

    init(store: any RegistryBackend, idleCheckpoint: Duration = .seconds(1), deliver: @escaping Deliver) {
        self.store = store
        writer = Lane(name: "registry-writer", idle: idleCheckpoint, onIdle: { store.writerIdle() }) { jobs in
            Self.runWrites(jobs, store: store, deliver: deliver)
        }
        let deltas = RecentDeltas()
        reader = Lane(name: "registry-reader", idle: nil, onIdle: nil) { jobs in
            for job in jobs { deliver(job.ticket, Self.runRead(job.operation, store: store, deltas: deltas)) }
        }
        writer.start()
        reader.start()
    }

    func submit(_ ticket: UInt64, _ operation: ModelRegistryStateMachine.StoreOperation) {
        (operation.isWrite ? writer : reader).enqueue(Job(ticket: ticket, operation: operation))
    }

    /// Finishes every queued operation, then stops both threads (blocks until they exit).
    func finish() {
        writer.finish()
        reader.finish()
    }

    struct Job: Sendable {
        var ticket: UInt64
        var operation: ModelRegistryStateMachine.StoreOperation
    }

    // MARK: - Writes

    static func runWrites(_ jobs: [Job], store: any RegistryBackend, deliver: Deliver) {
        var group: [Job] = []
        func flush() {
            guard !group.isEmpty else { return }
            for (ticket, result) in groupCommit(group, store: store) { deliver(ticket, result) }
            group.removeAll()
        }
        for job in jobs {
            switch job.operation {
            case .storeBaseModel, .freezeMove:
                flush()
                deliver(job.ticket, runAlone(job.operation, store: store))
            default:
                group.append(job)
            }
        }
        flush()
    }

    /// One transaction for all of `jobs`, each in a savepoint.
    static func groupCommit(_ jobs: [Job], store: any RegistryBackend) -> [(UInt64, ModelRegistryStateMachine.StoreResult)] {
        // CPU work before taking the write lock: a commit's head hash is verified here.
        var prepared: [(Job, ModelRegistryStateMachine.StoreResult?)] = jobs.map { job in
            if case .commitHead(let commit, _, let contract, _) = job.operation {
                do {
                    try contract.checkHead(
                        parameters: commit.parameters, claimedHash: commit.hash,
                        freezePoint: UInt32(commit.stamps.freezePoint.index), what: "head commit for \(commit.user)")
                } catch let violation as InputViolation {
                    return (job, .refused(violation))
                } catch {
                    return (job, .refused(InputViolation(.hashMismatch, "\(error)")))
                }
            }
            return (job, nil)
        }
        let pending = prepared.indices.filter { prepared[$0].1 == nil }
        do {
            let results = try store.applyWrites(pending.map { registryWrite(prepared[$0].0.operation) })
            for (index, result) in zip(pending, results) {
                prepared[index].1 =
                    switch result {
                    case .batch(let write): .batch(write)
                    case .commit(let outcome, let head, let pruned): .commit(outcome, head, pruned: pruned)
                    case .recorded: .recorded
                    case .refused(let detail): .refused(InputViolation(.rejectedByStore, detail))
                    }
            }
        } catch {
            // The transaction did not commit: nothing of it was kept, nothing is acknowledged.
            return jobs.map { ($0.ticket, .failed("group commit failed: \(error)")) }
        }
        store.count { counters in
            for (_, result) in prepared {
                switch result {
                case .batch(.stored(let samples, _, _)):
                    counters.batchesStored += 1
                    counters.samplesStored += samples
                case .batch(.duplicate): counters.duplicates += 1
                case .commit(.committed, _, _): counters.commits += 1
                case .commit(.conflict, _, _): counters.conflicts += 1
                default: break
                }
            }
        }
        return prepared.map { ($0.0.ticket, $0.1 ?? .failed("not run")) }
    }

    /// The backend's form of a grouped write (only the grouped operations reach here).
    static func registryWrite(_ operation: ModelRegistryStateMachine.StoreOperation) -> RegistryWrite {
        switch operation {
        case .storeBatch(let batch, let fingerprint):
            return .storeBatch(batch, fingerprint)
        case .commitHead(let commit, let consumed, _, let keepHeads):
            return .commitHead(commit, consumed: consumed, keepHeads: keepHeads)
        case .recordConflict(let batch, let storedUser, let fingerprint, let detail):
            return .recordConflict(batch, storedUser: storedUser, fingerprint: fingerprint, detail: detail)
        case .recordDeclined(let user, let device, let hash):
            return .recordDeclined(user: user, device: device, hash: hash)
        default:
            preconditionFailure("\(operation) is not a grouped write")
        }
    }

    static func runAlone(_ operation: ModelRegistryStateMachine.StoreOperation, store: any RegistryBackend)
        -> ModelRegistryStateMachine.StoreResult
    {
        do {
            switch operation {
            case .storeBaseModel(let version, let hash, let checkpoint):
                let contents: ModelCheckpoint.Contents
                do {
                    try RegistryStoreHandler.checkBaseModel(checkpoint, version: version, hash: hash)
                    contents = try ModelCheckpoint.decode(checkpoint)
                } catch let error as RegistryError {
                    return .refused(InputViolation(.rejectedByStore, "\(error)"))
                }
                let outcome = try store.putBaseModel(version: version, hash: hash.lowercased(), blob: Data(checkpoint))
                return .baseModelStored(
                    version, hash: hash.lowercased(), alreadyPresent: outcome == .alreadyPresent,
                    contract: ModelContract(contents.architecture))
            case .freezeMove(let message):
                return .freezeMove(try RegistryWireAdapter.freezeMoveAnswer(message, store: store))
            default:
                return .failed("\(operation) does not run alone")
            }
        } catch let error as RegistryError {
            return .refused(InputViolation(.rejectedByStore, "\(error)"))
        } catch {
            return .failed("\(error)")
        }
    }

    // MARK: - Reads

    static func runRead(
        _ operation: ModelRegistryStateMachine.StoreOperation, store: any RegistryBackend, deltas: RecentDeltas? = nil
    ) -> ModelRegistryStateMachine.StoreResult {
        do {
            switch operation {
            case .readHead(let user, let deltaBase):
                let latest = try store.latestHead(user)
                return .head(
                    latest, delta: try deltaBase.map { try delta(to: latest, from: $0, store: store, recent: deltas) })
            case .readFeatures(let query) where query.withoutActivations:
                return .features(
                    try store.featureListing(query.user, stamps: query.stamps, after: query.after, limit: query.limit))
            case .readFeatures(let query):
                return .features(
                    try store.featureWindow(query.user, stamps: query.stamps, after: query.after, limit: query.limit))
            case .readBaseModel(let version):
                return .baseModel(version, try store.baseModel(version))
            case .sampleCounts(let stamps):
                return .sampleCounts(try store.sampleCounts(stamps: stamps))
            default:
                return .failed("\(operation) is not a read")
            }
        } catch let error as RegistryError {
            return .refused(InputViolation(.rejectedByStore, "\(error)"))
        } catch {
            return .failed("\(error)")
        }
    }

    /// The delta from `user`'s stored head `baseHash` to `latest`, made here on a storage thread (deflating
    /// a 6.4 MB head takes tens to hundreds of milliseconds), or why there is none. A delta made recently
    /// for the same pair is taken from `recent` instead: the phones of one user pull the same new head
    /// against the same old one, and each would otherwise pay the whole encoding again.
    static func delta(
        to latest: HeadRecord?, from baseHash: String, store: any RegistryBackend, recent: RecentDeltas? = nil
    ) throws -> ModelRegistryStateMachine.DeltaOffer {
        guard let latest, latest.hash != baseHash else { return .missing(baseHash, "no newer head") }
        let key = RecentDeltas.Key(user: latest.user, version: latest.version, hash: latest.hash, base: baseHash)
        if let bytes = recent?.bytes(for: key) { return .made(bytes, base: baseHash) }
        guard let base = try store.head(latest.user, hash: baseHash) else {
            return .missing(baseHash, "head \(baseHash) is not stored")
        }
        guard base.stamps.modelVersion == latest.stamps.modelVersion,
            base.stamps.freezePoint == latest.stamps.freezePoint, base.parameters.count == latest.parameters.count
        else { return .missing(baseHash, "head \(baseHash) has other stamps") }
        do {
            let bytes = try HeadDelta.encode(base: base.parameters, target: latest.parameters)
            recent?.keep(bytes, for: key)
            return .made(bytes, base: baseHash)
        } catch {
            return .missing(baseHash, "\(error)")
        }
    }

    /// The last few deltas the reader made, by (user, head version, head hash, base hash): a delta is
    /// a pure function of the two stored heads, so a kept one is the same bytes as a new one would be.
    /// Bounded to `capacity` entries (a 6.4 MB head's delta is about 1.7 MB), oldest dropped first.
    final class RecentDeltas: Sendable {
        struct Key: Hashable, Sendable {
            var user: UserID
            var version: UInt64
            var hash: String
            var base: String
        }

        let capacity: Int
        private let entries = Mutex<[(key: Key, bytes: [UInt8])]>([])

        init(capacity: Int = 8) { self.capacity = capacity }

        func bytes(for key: Key) -> [UInt8]? {
            entries.withLock { entries in entries.first { $0.key == key }?.bytes }
        }

        func keep(_ bytes: [UInt8], for key: Key) {
            entries.withLock { entries in
                entries.removeAll { $0.key == key }
                entries.append((key, bytes))
                if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
            }
        }
    }

    // MARK: - Threads

    /// One thread draining a FIFO queue in batches.
    ///
    /// Thread rule: ``enqueue(_:)`` and ``finish()`` from any thread; `run` and `onIdle` are called only on
    /// the lane's own thread. Ownership: the lane owns its thread until ``finish()`` returns; a lane that
    /// is never finished keeps its thread parked on the semaphore (the node always finishes it).
    final class Lane: Sendable {
        private struct State {
            var queue: [Job] = []
            var finishing = false
        }

        private let state = Mutex(State())
        /// Signalled once per enqueue and on finish; extra signals only cause an empty pass.
        private let wake = DispatchSemaphore(value: 0)
        private let done = DispatchSemaphore(value: 0)
        private let name: String
        private let idle: Duration?
        /// Called on the lane's thread when it was idle for `idle` after some work.
        private let onIdle: (@Sendable () -> Void)?
        private let run: @Sendable ([Job]) -> Void

        init(name: String, idle: Duration?, onIdle: (@Sendable () -> Void)?, run: @escaping @Sendable ([Job]) -> Void) {
            self.name = name
            self.idle = idle
            self.onIdle = onIdle
            self.run = run
        }

        func start() {
            let thread = Thread { [self] in loop() }
            thread.name = name
            thread.start()
        }

        func enqueue(_ job: Job) {
            state.withLock { $0.queue.append(job) }
            wake.signal()
        }

        /// Runs what is queued, then stops the thread; blocks until it has.
        func finish() {
            state.withLock { $0.finishing = true }
            wake.signal()
            done.wait()
        }

        private func loop() {
            var dirty = false
            while true {
                let (jobs, finishing) = state.withLock { state in
                    defer { state.queue.removeAll() }
                    return (state.queue, state.finishing)
                }
                if !jobs.isEmpty {
                    dirty = true
                    run(jobs)
                    continue
                }
                if finishing {
                    done.signal()
                    return
                }
                if dirty, let idle {
                    let nanoseconds =
                        idle.components.seconds * 1_000_000_000 + idle.components.attoseconds / 1_000_000_000
                    if wake.wait(timeout: .now() + .nanoseconds(Int(nanoseconds))) == .timedOut {
                        dirty = false
                        onIdle?()
                    }
                } else {
                    wake.wait()
                }
            }
        }
    }
}

extension RegistryStorage {
    /// Runs one operation on the calling thread (tests and tools; never on a socket loop).
    static func runInline(_ operation: ModelRegistryStateMachine.StoreOperation, store: any RegistryBackend)
        -> ModelRegistryStateMachine.StoreResult
    {
        switch operation {
        case .storeBaseModel, .freezeMove: runAlone(operation, store: store)
        case _ where operation.isWrite: groupCommit([Job(ticket: 0, operation: operation)], store: store)[0].1
        default: runRead(operation, store: store)
        }
    }
}

extension RegistryNode {
    /// The registry's answer to one request's frames with every store operation run inline: the same
    /// path as the node (decode, machine, store, machine) without sockets or threads. For tests and tools.
    static func reply(
        to frames: [[UInt8]], from userID: String?, machine: inout ModelRegistryStateMachine, store: any RegistryBackend,
        refusals: InputRefusals
    ) -> ThawMessage? {
        let peer = ModelRegistryStateMachine.Peer(routingID: [1], userID: userID)
        var actions: [ModelRegistryStateMachine.Action]
        do {
            actions = machine.receive(try WireCodec.decode(frames), from: peer)
        } catch {
            refusals.refuse(on: "router", error)
            actions = [
                ModelRegistryStateMachine.malformed(peer, id: frames.first.flatMap(EnvelopePeek.sequence) ?? 0, error)
            ]
        }
        var reply: ThawMessage?
        while !actions.isEmpty {
            var next: [ModelRegistryStateMachine.Action] = []
            for action in actions {
                switch action {
                case .reply(_, _, let message, let refusal):
                    if let refusal { refusals.refuse(on: "router", refusal) }
                    if reply == nil { reply = message }
                case .store(let ticket, let operation):
                    next += machine.stored(ticket: ticket, RegistryStorage.runInline(operation, store: store))
                default:
                    break
                }
            }
            actions = next
        }
        return reply
    }
}
