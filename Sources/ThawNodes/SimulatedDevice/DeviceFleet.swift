import Synchronization
import CoreMetrics
import Foundation
import Logging
import ThawData
import ThawDeviceProfile
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// Every phone of one device process, and the compute and radio work their state machines ask for.
///
/// Owned by the node's single task: nothing here is shared, so none of it needs a lock.
struct DeviceFleet {
    let configuration: DeviceFleetNode.Configuration
    let dataset: HandwritingDataset
    let logger: Logger
    /// Every message refused on any of the process's sockets (broadcasts, registry replies).
    let refusals: InputRefusals
    let registry: RegistryClient
    let loop: SocketLoop
    /// One PUSH per worker, in the topology's order; ``affinity`` picks the one for a user's batch.
    let pushes: [SocketID]
    let affinity: WorkerAffinity
    let metrics: SocketID?
    /// The process's own metrics (swift-metrics, published as its `device-fleet` report).
    let nodeMetrics: NodeMetrics
    let counters: FleetCounters
    /// Where the next round of per-phone metrics starts (phones are reported a slice at a time).
    var metricsCursor = 0
    /// Every phone's persisted state (group commit).
    let store: DeviceFleetStore
    /// Where finished group commits are reported.
    let inbox: FleetInbox
    var stamper: EnvelopeStamper
    var deployment: DeploymentState?
    var model: Model?
    var modelVersion: ModelVersion?
    var baseHead: [Float] = []
    var phones: [SimulatedPhone] = []
    var generator: SeededGenerator
    var goalAnnounced = false
    var lastGoalCheck: ContinuousClock.Instant?
    /// Held-out accuracy by user and head hash under `accuracyStamp` (see ``requestEvaluation(phone:purpose:)``).
    var accuracyCache: [String: Double] = [:]
    var accuracyStamp: ActivationStamp?
    /// A deployment change still reaching the phones (see ``catchUp(_:)``).
    var sweep: Sweep?
    /// When the reader got the broadcast being handled (set by the node before ``observe(_:sentAtMs:)``).
    var broadcastArrival: (receivedAtMs: UInt64, arrived: ContinuousClock.Instant)?
    /// The fleet task's most recent units of 1 ms or more (``noteBusy(_:since:threshold:)``): what a
    /// broadcast waited for is read from them when it is applied.
    var recentUnits = RecentUnits()
    /// Next attempt to fetch a base model whose fetch failed.
    var modelRetryAt: ContinuousClock.Instant?
    /// Head announcements received (pull on change).
    var headsAnnounced = 0
    /// Group commits started, and the snapshots they carried.
    var commits = 0
    var committedSnapshots = 0
    var lastMetrics = ContinuousClock.now
    /// Set after a failed registry request: no head pulls until `registryRetryAt`.
    var registryBackoff: Duration?
    var registryRetryAt: ContinuousClock.Instant?
    /// Batches waiting on a task of their own for room in the socket loop's mailbox (``send(_:phone:)``).
    let waitingSends = SendCounter()
    /// Head parameters by hash, shared by the phones that swapped them in (``sharedHead(hash:_:)``);
    /// heads no longer arriving are kept on disk.
    var heads: HeadStore
    /// The last parameters received for each user (by head hash), not yet verified: later equal replies share them.
    var seenHeads: [String: (hash: String, scalars: [Float])] = [:]
    /// The last large tensors the decode queue decoded, offered for the next reply (``RecentTensors``).
    let recentTensors = RecentTensors()
    /// Heads verified on the compute queue (confined to it).
    let headVerifications = HeadVerifications()
    /// Evaluations under way on the compute queue, and the phones waiting for each.
    var evaluating: [EvaluationKey: [(phone: Int, purpose: EvaluationPurpose)]] = [:]
    /// One stored copy of equal backbone outputs across phones (confined to `compute`).
    let interner = ActivationInterner()
    var sharing: Bool { configuration.shareEqualActivations }
    /// Held-out backbone outputs of at most 64 users (confined to `compute`).
    let evaluationInputs = EvaluationInputs(capacity: DeviceFleet.evaluationCacheUsers)
    /// CPU seconds by kind of work (``FleetCPU``), printed with the memory breakdown.
    let cpu: FleetCPU
    /// The long units (batched backbone passes, held-out evaluations, rebuilds) run here, in order.
    let compute: FleetCompute
    /// Group commits run here (SQLite and its fsync), never on the Swift concurrency pool.
    let committer: FleetCompute
    /// Batches are assembled, encoded and handed to the socket loop here, in the order they were sent.
    let sender: FleetCompute
    /// Confined to `sender`.
    let sendGate = SendGate()
    /// The secret behind the noise on uploads when the deployment asks for it (``UploadNoiseKey``): drawn
    /// once per process, shared by its simulated phones (each row's stream also mixes in the device id).
    let uploadNoiseKey = UploadNoiseKey.random()
    /// The longest unit of the fleet's task since the last metrics round (``noteBusy(_:since:)``).
    var busiestMs = 0.0
    /// The memory walk under way (``tallyMemory(now:)``) and when the last `fleet-memory` line was printed.
    var memoryTally: FleetMemoryTally?
    var lastMemoryLine = ContinuousClock.now
    /// Phones still to report in the current metrics round (a few per slice).
    var metricsRemaining = 0
    /// When each phone is next due for its sample/tick work (see ``workSlice(until:)``).
    var queue = PhoneQueue()
    /// Registry requests in flight, by envelope sequence.
    var inFlight: [UInt64: InFlightRequest] = [:]
    /// Phones with a head pull in flight (one each).
    var pulling: Set<Int> = []
    /// Pulled heads whose checks are queued or running on the compute queue (``mayPull(inFlight:headChecksQueued:)``).
    var headChecksQueued = 0
    /// Phones with a freeze sync in flight (or waiting in `syncBacklog`).
    var syncing: Set<Int> = []
    /// A move's freeze syncs waiting for room in the window of in-flight requests.
    var syncBacklog: [WaitingSync] = []
    /// Backbone passes waiting for the next batched forward.
    var backboneQueue = BackboneQueue()
    /// The model copy batched passes run on (see ``startBackboneJob()``), and whether one runs now.
    var backbone: BackboneModel?
    var computing = false
    /// Once shutdown began: no new work is taken.
    var stopping = false
    /// Phones of each user (several phones may act for one writer).
    var phonesByUser: [String: [Int]] = [:]
    /// Phones told of a new head whose pull could not go out yet (window full, or a pull in flight).
    var pullBacklog: [Int] = []
    /// The phones in `pullBacklog` (each once: a phone told of several heads pulls the newest once).
    var backlogged: Set<Int> = []
    /// Snapshots waiting for the next group commit, by phone.
    var pendingWrites: [Int: DeviceSnapshot] = [:]
    /// Batches whose snapshot is durable, not sent yet (a broadcast went first).
    var releasedSends: [(phone: Int, batch: DeviceBatch)] = []
    /// Batched-pass results not yet handed to their phones, and the next row of the first one.
    var backboneResults: [BackboneResult] = []
    var backboneRow = 0
    /// Batches held until their phone's snapshot is durable (released after the next commit).
    var heldSends: [(phone: Int, batch: DeviceBatch)] = []
    /// The group commit under way: its phones and the sends it releases.
    var committing: (phones: Set<Int>, sends: [(phone: Int, batch: DeviceBatch)], task: Task<Void, Never>)?

    init(
        configuration: DeviceFleetNode.Configuration, dataset: HandwritingDataset, logger: Logger,
        refusals: InputRefusals, registry: RegistryClient, loop: SocketLoop, pushes: [SocketID], metrics: SocketID?,
        store: DeviceFleetStore, inbox: FleetInbox, nodeMetrics: NodeMetrics = NodeMetrics(node: "", role: "")
    ) {
        let cpu = FleetCPU()
        self.cpu = cpu
        self.compute = FleetCompute(label: "compute", cpu: cpu)
        self.committer = FleetCompute(label: "commit", cpu: cpu)
        self.sender = FleetCompute(label: "send", cpu: cpu)
        self.counters = FleetCounters(nodeMetrics)
        self.nodeMetrics = nodeMetrics
        self.store = store
        self.inbox = inbox
        self.configuration = configuration
        self.dataset = dataset
        self.logger = logger
        self.refusals = refusals
        self.registry = registry
        self.loop = loop
        self.pushes = pushes
        self.affinity = WorkerAffinity(endpoints: configuration.workers.map(\.rawValue))
        self.metrics = metrics
        self.stamper = EnvelopeStamper(sender: configuration.name)
        self.generator = SeededGenerator(seed: configuration.seed)
        self.heads = HeadStore(directory: "\(configuration.stateDirectory)/heads")
    }

    // MARK: - Broadcasts

    /// - Parameter sentAtMs: when the coordinator sent the broadcast (wall clock), for the latency report.
    mutating func observe(_ message: ThawMessage, sentAtMs: UInt64) async throws {
        if let state = WireBridge.deploymentState(in: message) {
            try await adopt(WireBridge.deployment(state), sentAtMs: sentAtMs)
            return
        }
        switch message {
        case .headAnnounce(let announced):
            headAnnounced(announced)
        case .invalidation(let invalidation):
            for index in phones.indices where invalidation.userID == nil || invalidation.userID == phones[index].user.rawValue {
                catchUp(index)
                try await perform(phones[index].machine.invalidation(sampleIds: invalidation.sampleIDs), phone: index)
            }
        default:
            break
        }
    }

    /// Follows a broadcast state; the same path serves a change and a late joiner's first heartbeat.
    private mutating func adopt(_ state: DeploymentState, sentAtMs: UInt64) async throws {
        if let deployment, state.epoch < deployment.epoch || (state == deployment && !phones.isEmpty) { return }
        let previous = deployment
        // The first state needs the model to set the phones up. A later model change is applied to the
        // phones first (their stale entries go at once) and the new model is fetched after: nothing a
        // phone computes waits on it but its own recomputation (see `workSlice`).
        if phones.isEmpty || model == nil {
            do {
                try await ensureModel(state.modelVersion)
            } catch {
                logger.warning("no base model yet", metadata: ["model.version": "\(state.modelVersion)", "error": "\(error)"])
                return
            }
        }
        // A broadcast whose freeze point does not split this model would make every phone run layers
        // that do not exist; refuse it and keep following the last good state.
        if let model {
            do {
                _ = try ModelContract(model.architecture).freezePoint(UInt32(clamping: state.freezePoint.index))
            } catch {
                refusals.refuse(on: "sub", error)
                return
            }
        }
        deployment = state
        if phones.isEmpty {
            try makePhones()
            // Spread the phones over one tick so their work arrives evenly, not all at once.
            let start = ContinuousClock.now
            for index in phones.indices {
                queue.push(index, due: start + configuration.tick * (Double(index) / Double(max(phones.count, 1))))
            }
        }
        if let previous, previous.epoch != state.epoch {
            // Control before work: the new state is the fleet's at once; every phone is behind it until
            // its own machine has seen it, and nothing touches a phone before it caught up (``catchUp``),
            // so from this instant no phone flushes, predicts with or swaps in anything stale. The
            // per-phone work (evictions, outbox, rebuilds) is the sweep, done in slices.
            let switchedMs = Double(WallClock.nowMs()) - Double(sentAtMs)
            let switchedAt = ContinuousClock.now
            if let unfinished = sweep { finishSweep(unfinished) }
            sweep = Sweep(
                state: state, sentAtMs: sentAtMs, switchedMs: switchedMs,
                evictedBefore: phones.reduce(0) { $0 + $1.machine.statistics.entriesEvicted }, remaining: phones.count)
            if let arrival = broadcastArrival {
                // Where the applied latency went: before the reader had it, and in the inbox behind the
                // fleet task's units (each named, with its length).
                sweep?.receivedMs = Double(arrival.receivedAtMs) - Double(sentAtMs)
                sweep?.queuedMs = Self.milliseconds(switchedAt - arrival.arrived)
                sweep?.waitedFor = recentUnits.overlapping(since: arrival.arrived)
            }
            let due = ContinuousClock.now
            for index in phones.indices {
                phones[index].behind = true
                queue.push(index, due: due)
            }
            if phones.isEmpty, let done = sweep { finishSweep(done) }
        } else {
            // The first state (or a restart's): every phone observes it now; no latency is reported.
            let now = WallClock.now()
            let due = ContinuousClock.now
            for index in phones.indices {
                let actions = phones[index].machine.deploymentObserved(state, now: now)
                if !actions.isEmpty || phones[index].baseAccuracy == nil {
                    phones[index].deferred += actions
                    queue.push(index, due: due)
                }
            }
        }
        if modelVersion != state.modelVersion {
            do {
                try await ensureModel(state.modelVersion)
            } catch {
                logger.warning(
                    "new base model not fetched yet; phones wait for it",
                    metadata: ["model.version": "\(state.modelVersion)", "error": "\(error)"])
            }
        }
    }

    /// Brings phone `index` to the fleet's deployment if a change is still to reach it: its machine
    /// observes the state (evictions, outbox bookkeeping) and the work that asks for is deferred to the
    /// phone's next slice. Called before anything reads or changes a phone.
    mutating func catchUp(_ index: Int) {
        guard phones[index].behind, let deployment else { return }
        phones[index].behind = false
        phones[index].deferred += phones[index].machine.deploymentObserved(deployment, now: WallClock.now())
        guard let sentAtMs = sweep?.sentAtMs, sweep?.state == deployment else { return }
        // In place (no copy of the latencies per phone).
        sweep?.sweptMs.append(Double(WallClock.nowMs()) - Double(sentAtMs))
        sweep?.remaining -= 1
        if let done = sweep, done.remaining <= 0 { finishSweep(done) }
    }

    /// Every phone caught up with a change (or a newer one superseded it): the `deployment-applied` line.
    ///
    /// `latencyMs` is each phone's applied latency: from the coordinator's send to the moment the change
    /// was the fleet's (from then on nothing stale is used); `sweptMs` is when each phone's own stale
    /// entries were dropped.
    private mutating func finishSweep(_ done: Sweep) {
        sweep = nil
        let state = done.state
        let line = DeploymentAppliedLine(
            modelVersion: state.modelVersion.number, freezePoint: state.freezePoint.index, epoch: state.epoch,
            phones: phones.count,
            evicted: phones.reduce(0) { $0 + $1.machine.statistics.entriesEvicted } - done.evictedBefore,
            latencyMs: LatencySummary(Array(repeating: done.switchedMs, count: phones.count)),
            sweptMs: LatencySummary(done.sweptMs), receivedMs: done.receivedMs, queuedMs: done.queuedMs,
            waitedFor: done.waitedFor)
        StdoutLine.write(line)
        counters.deploymentApplied.record(line.latencyMs.p99)
        logger.info(
            "deployment applied",
            metadata: ["epoch": "\(state.epoch)", "evicted": "\(line.evicted)", "p99.ms": "\(line.latencyMs.p99)",
                       "swept.p99.ms": "\(done.sweptMs.max() ?? 0)"])
    }

    /// A committed head was announced: every phone of that user that does not hold it pulls it.
    private mutating func headAnnounced(_ announced: HeadAnnounce) {
        let now = WallClock.now()
        for index in phonesByUser[announced.userID] ?? [] {
            catchUp(index)
            let wanted = phones[index].machine.headAnnounced(
                hash: announced.headHash, modelVersion: ModelVersion(announced.modelVersion),
                freezePoint: FreezePoint(Int(announced.freezePoint)), now: now)
            if !wanted.isEmpty, backlogged.insert(index).inserted { pullBacklog.append(index) }
        }
        headsAnnounced += 1
        counters.headsAnnounced.increment()
    }

    /// Sends the pulls announcements asked for, as many as the in-flight window takes; a phone whose
    /// previous pull is still out waits for it (it may have been answered before the commit).
    mutating func drainPullBacklog() async throws {
        guard !pullBacklog.isEmpty, registryRetryAt.map({ ContinuousClock.now >= $0 }) ?? true else { return }
        var waiting: [Int] = []
        var taken = 0
        for index in pullBacklog {
            if !Self.mayPull(inFlight: inFlight.count, headChecksQueued: headChecksQueued) { break }
            taken += 1
            if pulling.contains(index) {
                waiting.append(index)
                continue
            }
            backlogged.remove(index)
            catchUp(index)
            try await perform([.requestHead(haveHash: phones[index].machine.head?.hash)], phone: index)
        }
        pullBacklog = waiting + pullBacklog.dropFirst(taken)
    }

    private mutating func ensureModel(_ version: ModelVersion) async throws {
        if modelVersion == version, model != nil { return }
        let made = try await registry.baseModel(version, stamper: &stamper)
        model = made
        modelVersion = version
        backbone = BackboneModel(version: version, model: made.copy())
        logger.info("base model loaded", metadata: ["model.version": "\(version)", "layers": "\(made.layerCount)"])
    }

    private mutating func makePhones() throws {
        guard let model else { return }
        let splitter = UserSplitter(adaptationFraction: 0.5, seed: configuration.seed)
        var deviceConfiguration = configuration.phone.deviceConfiguration(layerCount: model.layerCount)
        let stored = try store.loadAll()
        let byWriter = dataset.test.indicesByWriter
        var splits: [UInt16: UserSplit] = [:]
        if !configuration.announce.isEmpty {
            // Pull on change: the registry announces each committed head; the periodic pull is a safety net.
            deviceConfiguration.headPullInterval = max(
                deviceConfiguration.headPullInterval, configuration.safetyNetPullInterval)
        }
        for (number, user) in configuration.users.enumerated() {
            // One split per writer (many phones may act for the same one), from one pass over the test set.
            let split = splits[user] ?? splitter.split(indices: byWriter[user] ?? [], writer: user)
            splits[user] = split
            if configuration.phone.checkpointLayers.isEmpty, configuration.phone.checkpointBudgetBytes > 0,
                let deployment
            {
                let entries = max(1, Int((Double(split.adaptation.count) * configuration.annotationShare).rounded(.up)))
                let placement = CheckpointPlacement(
                    architecture: model.architecture, freezePoint: deployment.freezePoint,
                    joulesPerFLOP: configuration.phone.profile.compute.joulesPerFLOP)
                let plan = placement.plan(budgetBytesPerSample: configuration.phone.checkpointBudgetBytes / entries)
                deviceConfiguration.checkpointLayers = plan.layers
                if number == 0 {
                    logger.info(
                        "checkpoint placement",
                        metadata: ["layers": "\(plan.layers)", "bytes.per.sample": "\(plan.bytesPerSample)",
                                   "freeze.point": "\(deployment.freezePoint.index)"])
                }
            }
            let device = DeviceID("\(configuration.name)-\(number)")
            let snapshot = restore(device: device, from: stored)
            phonesByUser["writer-\(user)", default: []].append(phones.count)
            phones.append(
                SimulatedPhone(
                    device: device, user: UserID("writer-\(user)"), stream: split.adaptation,
                    evaluation: split.evaluation,
                    machine: DeviceStateMachine(configuration: deviceConfiguration, restoring: snapshot)))
        }
    }

    /// A phone's stored state: its row in the fleet store, else (first start after an upgrade) its
    /// former per-phone file. A row or file that fails its checks is moved aside and the phone starts fresh.
    private func restore(device: DeviceID, from stored: [String: Result<DeviceSnapshot, StateFileError>])
        -> DeviceSnapshot?
    {
        switch stored[device.rawValue] {
        case .success(let snapshot):
            return snapshot
        case .failure(let error):
            try? store.quarantine(device: device.rawValue, error: error)
            logger.error(
                "device state unreadable; moved aside",
                metadata: ["device": "\(device)", "error": "\(error)", "moved.to": "phone_state_corrupt"])
            return nil
        case nil:
            let legacy = DeviceCacheStore(path: "\(configuration.stateDirectory)/\(device.rawValue).cache")
            do {
                return try legacy.load()
            } catch {
                let moved = try? legacy.quarantine()
                logger.error(
                    "device cache unreadable; moved aside",
                    metadata: ["device": "\(device)", "error": "\(error)", "moved.to": "\(moved ?? "-")"])
                return nil
            }
        }
    }

    // MARK: - Time

    /// Phone work for at most `budget`: every phone that is due, earliest first, does its deferred work
    /// (after a broadcast) or its tick (new samples, due pulls, flushes), then the slice's backbone
    /// passes run as one batch. Returns when the budget is spent or no phone is due, so incoming
    /// messages are handled within one slice.
    ///
    /// - Returns: when the next phone is due (nil: none).
    mutating func workSlice(budget: Duration) async throws -> ContinuousClock.Instant? {
        let started = ContinuousClock.now
        let metricsStarted = ContinuousClock.now
        if started - lastMetrics >= .seconds(2) {
            // Metrics first: a fleet that never got a usable deployment still reports what it refused.
            lastMetrics = started
            publishMetrics()
        }
        publishPhoneMetrics()
        tallyMemory(now: metricsStarted)
        noteBusy("metrics", since: metricsStarted, threshold: .milliseconds(5))
        // Work a broadcast interrupted, first.
        try await drainBackboneResults()
        try await drainReleasedSends()
        try await expireRequests(now: started)
        try await drainSyncBacklog()
        try await drainPullBacklog()
        guard !stopping, let deployment, model != nil else { return stopping ? nil : started + configuration.tick }
        if modelVersion != deployment.modelVersion {
            // A model change whose model could not be fetched yet: retry at most once a second.
            guard modelRetryAt.map({ started >= $0 }) ?? true else { return started + .milliseconds(250) }
            modelRetryAt = started + .seconds(1)
            do {
                try await ensureModel(deployment.modelVersion)
            } catch {
                logger.warning("base model still missing", metadata: ["model.version": "\(deployment.modelVersion)", "error": "\(error)"])
                return started + .milliseconds(250)
            }
        }
        let now = WallClock.now()
        var clock = started
        // A control event (a broadcast) ends the slice at the next phone: it waits for one phone's unit.
        while ContinuousClock.now - started < budget, !inbox.controlPending, let entry = queue.popDue(now: clock) {
            let index = entry.phone
            let (phoneStarted, phoneCPU) = (ContinuousClock.now, FleetCPU.threadSeconds())
            defer { noteBusy("phone", since: phoneStarted, cpuStarted: phoneCPU, threshold: .milliseconds(5)) }
            catchUp(index)
            if !phones[index].deferred.isEmpty || !phones[index].baseRequested {
                let deferred = phones[index].deferred
                phones[index].deferred.removeAll()
                try await perform(deferred, phone: index)
                if !phones[index].baseRequested {
                    // Computed on the compute queue; set when it comes back (``evaluated(_:)``).
                    phones[index].baseRequested = true
                    requestEvaluation(phone: index, purpose: .base)
                }
                // An early entry: the phone's regular one is still queued.
                if entry.due < (phones[index].nextTick ?? entry.due) { continue }
            }
            if let nextTick = phones[index].nextTick, entry.due < nextTick { continue }
            // Backpressure: while the passes already asked for would keep the compute queue busy for a
            // few batches, the phone's next sample waits (its stream does not advance; nothing is lost).
            // The phones then produce samples at the rate one process can compute them, instead of a
            // queue growing by thousands of requests a second that the fleet task walked at every pass.
            for _ in 0..<configuration.samplesPerTick
            where !phones[index].streamFinished && backboneQueue.count < Self.backboneBacklog {
                let sample = phones[index].stream[phones[index].cursor]
                phones[index].cursor += 1
                let annotated = Double.random(in: 0..<1, using: &generator) < configuration.annotationShare
                let actions = phones[index].machine.sampleArrived(
                    sampleId: UInt64(sample), annotated: annotated, label: Int(dataset.test.labels[sample]), now: now)
                try await perform(actions, phone: index)
            }
            try await perform(phones[index].machine.tick(now: now), phone: index)
            // A phone that fell behind is not made to catch up with a burst: its next tick is one interval on.
            let next = max(entry.due + configuration.tick, clock)
            phones[index].nextTick = next
            queue.push(index, due: next)
            if backboneQueue.count >= Self.backboneBatch { startBackboneJob() }
            clock = ContinuousClock.now
        }
        startBackboneJob()
        let goalStarted = ContinuousClock.now
        announceGoalIfReached()
        noteBusy("goal", since: goalStarted, threshold: .milliseconds(5))
        return queue.nextDue
    }

    /// Shutdown: no new work; in-flight registry requests and backbone passes are abandoned (their
    /// phones keep the batches unacknowledged and re-send them after a restart); the group commit under
    /// way finishes, then every phone whose state changed since it was last made durable is saved in one
    /// transaction (the held sends are dropped: they stay in the outboxes). Nothing here grows with the
    /// load but that one transaction, bounded by the number of phones.
    mutating func terminate() async {
        stopping = true
        queue.removeAll()
        backboneQueue.removeAll()
        inFlight.removeAll()
        pullBacklog.removeAll()
        backlogged.removeAll()
        syncBacklog.removeAll()
        heldSends.removeAll()
        releasedSends.removeAll()
        backboneResults.removeAll()
        if let committing { await committing.task.value }
        committing = nil
        // Within `persistBudget`: first the phones whose snapshot was waiting for a commit (acks, flushes,
        // moves), then the others that changed since their last commit (activations computed since).
        // What is not saved is what a kill -9 would lose, which the crash guarantees cover: batches whose
        // snapshot was not durable were never sent, acknowledged ones are recognised by the registry when
        // re-sent, and a restarted phone re-applies the deployment from the next heartbeat.
        let deadline = ContinuousClock.now + Self.persistBudget
        var waiting: [(device: String, snapshot: DeviceSnapshot)] = []
        var changed: [Int] = []
        for index in phones.indices {
            let actions = phones[index].machine.terminate()
            if pendingWrites.index(forKey: index) != nil {
                for case .persistCache(let snapshot) in actions { waiting.append((phones[index].device.rawValue, snapshot)) }
            } else if phones[index].dirty {
                changed.append(index)
            }
            StdoutLine.write(report(phone: index))
        }
        pendingWrites.removeAll()
        var saved = 0
        do {
            var first = waiting[...]
            while !first.isEmpty, ContinuousClock.now < deadline {
                let chunk = Array(first.prefix(64))
                first = first.dropFirst(chunk.count)
                try store.save(chunk)
                saved += chunk.count
            }
            var next = changed[...]
            while !next.isEmpty, ContinuousClock.now < deadline {
                let chunk = next.prefix(64)
                next = next.dropFirst(chunk.count)
                try store.save(chunk.map { (phones[$0].device.rawValue, phones[$0].machine.snapshot) })
                saved += chunk.count
            }
        } catch {
            logger.error("device state not saved on stop", metadata: ["saved": "\(saved)", "error": "\(error)"])
        }
        try? store.close()
        logger.info(
            "device fleet stopped",
            metadata: ["persisted": "\(saved)", "not.persisted": "\(waiting.count + changed.count - saved)"])
    }

    /// How long a stopping fleet spends on its final saves (after the commit under way finished).
    static let persistBudget: Duration = .seconds(3)

    /// Most phones' snapshots in one group commit.
    static let commitGroup = 256

    // MARK: - Group commit

    /// Starts a group commit of every waiting snapshot if none is under way: one transaction on a
    /// detached task; ``commitFinished(error:)`` releases the sends that waited for it.
    mutating func startCommitIfIdle() {
        guard committing == nil, !pendingWrites.isEmpty else { return }
        // Bounded: at most `commitGroup` phones per transaction; the rest go in the next one. Snapshots
        // are moved out of the table, and membership is tested by key (`index(forKey:)`), never by
        // reading a value: a `DeviceSnapshot` copy retains every one of its arrays and tables, and these
        // copies were 2.7 % of the process's CPU at 10,000 phones.
        let taken = Array(pendingWrites.keys.prefix(Self.commitGroup))
        var moved: [(device: String, snapshot: DeviceSnapshot)] = []
        moved.reserveCapacity(taken.count)
        for index in taken {
            if let snapshot = pendingWrites.removeValue(forKey: index) {
                moved.append((phones[index].device.rawValue, snapshot))
            }
        }
        let group = moved
        let phonesInGroup = Set(taken)
        // A held batch goes with this commit unless its phone's snapshot still waits for a later one.
        var releasedLater: [(phone: Int, batch: DeviceBatch)] = []
        var releasedNow: [(phone: Int, batch: DeviceBatch)] = []
        for held in heldSends {
            if pendingWrites.index(forKey: held.phone) != nil {
                releasedLater.append(held)
            } else {
                releasedNow.append(held)
            }
        }
        heldSends = releasedNow
        let store = self.store
        let inbox = self.inbox
        let committer = self.committer
        let task = Task.detached {
            // The transaction and its fsync block a thread: the commit queue's, not the concurrency pool's.
            await committer.run {
                do {
                    try store.save(group)
                    inbox.put(.committed(error: nil))
                } catch {
                    inbox.put(.committed(error: "\(error)"))
                }
            }
        }
        committing = (phonesInGroup, heldSends, task)
        heldSends = releasedLater
        commits += 1
        committedSnapshots += group.count
        counters.groupCommits.increment()
        counters.snapshotsCommitted.increment(by: group.count)
    }

    /// The group commit under way finished: its phones are durable, the batches that waited go out.
    mutating func commitFinished(error: String?) async throws {
        guard let done = committing else { return }
        committing = nil
        if let error {
            // Nothing waiting on it is sent: the batches stay in their outboxes and are re-sent later,
            // and the phones are saved again with their next change (or on stop).
            logger.error("device state group commit failed", metadata: ["phones": "\(done.phones.count)", "error": "\(error)"])
            for index in done.phones { phones[index].dirty = true }
            startCommitIfIdle()
            return
        }
        for index in done.phones where pendingWrites.index(forKey: index) == nil { phones[index].dirty = false }
        // Durable now: they go out in order, a broadcast arriving meanwhile first (``drainReleasedSends``).
        releasedSends += done.sends
        if pendingWrites.isEmpty {
            // Nothing else to wait for: sends held behind this commit go out now.
            releasedSends += heldSends
            heldSends.removeAll()
        } else {
            startCommitIfIdle()
        }
        try await drainReleasedSends()
    }

    /// Sends the batches whose snapshots are durable, stopping as soon as a control event waits (each
    /// is encoded here, about 800 KB at freeze point 7); the rest go before the next slice.
    mutating func drainReleasedSends() async throws {
        var sent = 0
        defer { releasedSends.removeFirst(sent) }
        while sent < releasedSends.count, !inbox.controlPending {
            let (index, batch) = releasedSends[sent]
            sent += 1
            try await send(batch, phone: index)
        }
    }
}

/// A deployment change on its way through the fleet's phones.
struct Sweep {
    var state: DeploymentState
    var sentAtMs: UInt64
    /// From the coordinator's send to the change being the fleet's.
    var switchedMs: Double
    var evictedBefore: Int
    var remaining: Int
    var sweptMs: [Double] = []
    /// From the send to the process's reader having the broadcast (wall clocks, ms resolution).
    var receivedMs: Double?
    /// From the reader to the fleet's task applying it.
    var queuedMs: Double?
    /// The fleet task's units that ran while it waited ("kind:ms").
    var waitedFor: [String]?
}

/// A count shared between the fleet's task and the tasks it starts.
final class SendCounter: Sendable {
    private let count = Mutex(0)

    func withLock<Result: Sendable>(_ body: (inout Int) -> Result) -> Result {
        count.withLock { body(&$0) }
    }
}
