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
    let push: SocketID
    let metrics: SocketID?
    var stamper: EnvelopeStamper
    var deployment: DeploymentState?
    var model: Model?
    var modelVersion: ModelVersion?
    var baseHead: [Float] = []
    var phones: [SimulatedPhone] = []
    var generator: SeededGenerator
    var goalAnnounced = false
    var lastMetrics = ContinuousClock.now
    /// Set after a failed registry request: no head pulls until `registryRetryAt`.
    var registryBackoff: Duration?
    var registryRetryAt: ContinuousClock.Instant?
    var evaluationCache: [UserID: (stamp: ActivationStamp, inputs: Tensor, labels: [Int])] = [:]

    init(
        configuration: DeviceFleetNode.Configuration, dataset: HandwritingDataset, logger: Logger,
        refusals: InputRefusals, registry: RegistryClient, loop: SocketLoop, push: SocketID, metrics: SocketID?
    ) {
        self.configuration = configuration
        self.dataset = dataset
        self.logger = logger
        self.refusals = refusals
        self.registry = registry
        self.loop = loop
        self.push = push
        self.metrics = metrics
        self.stamper = EnvelopeStamper(sender: configuration.name)
        self.generator = SeededGenerator(seed: configuration.seed)
    }

    // MARK: - Broadcasts

    /// - Parameter sentAtMs: when the coordinator sent the broadcast (wall clock), for the latency report.
    mutating func observe(_ message: ThawMessage, sentAtMs: UInt64) async throws {
        if let state = WireBridge.deploymentState(in: message) {
            try await adopt(WireBridge.deployment(state), sentAtMs: sentAtMs)
            return
        }
        switch message {
        case .invalidation(let invalidation):
            for index in phones.indices where invalidation.userID == nil || invalidation.userID == phones[index].user.rawValue {
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
        do {
            try await ensureModel(state.modelVersion)
        } catch {
            logger.warning("no base model yet", metadata: ["model.version": "\(state.modelVersion)", "error": "\(error)"])
            return
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
        if phones.isEmpty { try makePhones() }
        let now = WallClock.now()
        let evictedBefore = phones.reduce(0) { $0 + $1.machine.statistics.entriesEvicted }
        var latenciesMs: [Double] = []
        latenciesMs.reserveCapacity(phones.count)
        // Two passes: every phone drops its stale entries first (cheap), and only then does any phone
        // recompute, so one phone's backbone passes never delay another phone's eviction.
        var pending: [[DeviceAction]] = []
        pending.reserveCapacity(phones.count)
        for index in phones.indices {
            pending.append(phones[index].machine.deploymentObserved(state, now: now))
            latenciesMs.append(Double(WallClock.nowMs()) - Double(sentAtMs))
        }
        for index in phones.indices {
            try await perform(pending[index], phone: index)
            if phones[index].baseAccuracy == nil {
                phones[index].baseAccuracy = evaluate(phone: index)
                phones[index].accuracy = phones[index].baseAccuracy
            }
        }
        guard let previous, previous.epoch != state.epoch else { return }
        let line = DeploymentAppliedLine(
            modelVersion: state.modelVersion.number, freezePoint: state.freezePoint.index, epoch: state.epoch,
            phones: phones.count,
            evicted: phones.reduce(0) { $0 + $1.machine.statistics.entriesEvicted } - evictedBefore,
            latencyMs: LatencySummary(latenciesMs))
        StdoutLine.write(line)
        logger.info(
            "deployment applied",
            metadata: ["epoch": "\(state.epoch)", "evicted": "\(line.evicted)", "p99.ms": "\(line.latencyMs.p99)"])
    }

    private mutating func ensureModel(_ version: ModelVersion) async throws {
        if modelVersion == version, model != nil { return }
        let made = try await registry.baseModel(version, stamper: &stamper)
        model = made
        modelVersion = version
        evaluationCache.removeAll()
        logger.info("base model loaded", metadata: ["model.version": "\(version)", "layers": "\(made.layerCount)"])
    }

    private mutating func makePhones() throws {
        guard let model else { return }
        let splitter = UserSplitter(adaptationFraction: 0.5, seed: configuration.seed)
        var deviceConfiguration = configuration.phone.deviceConfiguration(layerCount: model.layerCount)
        for (number, user) in configuration.users.enumerated() {
            let split = splitter.split(dataset.test, writer: user)
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
            let store = DeviceCacheStore(path: "\(configuration.stateDirectory)/\(device.rawValue).cache")
            let snapshot: DeviceSnapshot?
            do {
                snapshot = try store.load()
            } catch {
                let moved = try? store.quarantine()
                logger.error(
                    "device cache unreadable; moved aside",
                    metadata: ["device": "\(device)", "error": "\(error)", "moved.to": "\(moved ?? "-")"])
                snapshot = nil
            }
            phones.append(
                SimulatedPhone(
                    device: device, user: UserID("writer-\(user)"), stream: split.adaptation,
                    evaluation: split.evaluation, store: store,
                    machine: DeviceStateMachine(configuration: deviceConfiguration, restoring: snapshot)))
        }
    }

    // MARK: - Time

    mutating func tick() async throws {
        // Metrics first: a fleet that never got a usable deployment still reports what it refused.
        if ContinuousClock.now - lastMetrics >= .seconds(2) {
            lastMetrics = ContinuousClock.now
            publishMetrics()
        }
        guard deployment != nil, model != nil else { return }
        let now = WallClock.now()
        for index in phones.indices {
            for _ in 0..<configuration.samplesPerTick where !phones[index].streamFinished {
                let sample = phones[index].stream[phones[index].cursor]
                phones[index].cursor += 1
                let annotated = Double.random(in: 0..<1, using: &generator) < configuration.annotationShare
                let actions = phones[index].machine.sampleArrived(
                    sampleId: UInt64(sample), annotated: annotated, label: Int(dataset.test.labels[sample]), now: now)
                try await perform(actions, phone: index)
            }
            try await perform(phones[index].machine.tick(now: now), phone: index)
        }
        announceGoalIfReached()
    }

    mutating func terminate() {
        for index in phones.indices {
            let actions = phones[index].machine.terminate()
            for case .persistCache(let snapshot) in actions { persist(snapshot, phone: index) }
            StdoutLine.write(report(phone: index))
        }
    }
}
