import Logging
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// What one worker process knows between batches: the deployment it follows, the base model it
/// trains heads of, and its counters. Nothing here needs to survive a crash.
struct TrainerWorkerSession {
    struct Counters {
        var batches = 0
        var samples = 0
        var trainedSamples = 0
        var commits = 0
        var conflicts = 0
        var duplicates = 0
        var rejectedStale = 0
        var failures = 0
        /// Stale batches from a shallower freeze point advanced here instead of rejected (docs/FREEZE-MOVES.md).
        var advancedStale = 0
        /// Rejections handed to the registry for the device's next freeze sync.
        var rejectionsReturned = 0
        /// Heads retrained on the registry's request after it advanced a user's stored rows.
        var retrains = 0
        var lastLoss: Double = 0
    }

    let configuration: TrainerWorkerNode.Configuration
    let logger: Logger
    /// Every message refused on any of the worker's sockets (batches, broadcasts, registry replies).
    let refusals: InputRefusals
    let registry: RegistryClient
    var stamper: EnvelopeStamper
    var deployment: DeploymentState?
    var model: Model?
    var modelVersion: ModelVersion?
    var counters = Counters()
    let started = ContinuousClock.now

    init(
        configuration: TrainerWorkerNode.Configuration, logger: Logger, refusals: InputRefusals,
        registry: RegistryClient
    ) {
        self.configuration = configuration
        self.logger = logger
        self.refusals = refusals
        self.registry = registry
        self.stamper = EnvelopeStamper(sender: configuration.name)
    }

    /// Adopts a broadcast state unless it is older than the one already known.
    mutating func observe(_ message: ThawMessage) {
        guard let state = WireBridge.deploymentState(in: message) else { return }
        let candidate = WireBridge.deployment(state)
        if let deployment, candidate.epoch < deployment.epoch { return }
        deployment = candidate
    }

    /// - Parameters:
    ///   - access: the policy of an authenticating PULL socket (CURVE on tcp), nil on plain ipc.
    ///   - userID: the ZAP User-Id libzmq stamped on the message.
    mutating func handleBatch(_ frames: [[UInt8]], access: AccessPolicy? = nil, userID: String? = nil) async {
        var batch: ThawWire.FeatureBatch
        do {
            switch try WireCodec.decode(frames).message {
            case .featureBatch(let decoded):
                batch = decoded
            case .retrainRequest(let request):
                // Only the registry asks for retraining (it relays the coordinator's state).
                if let refusal = access?.checkRetrain(from: userID) {
                    refusals.refuse(
                        on: "pull", reason: InputViolation.Reason.forbidden.rawValue, detail: "retrain request: \(refusal)")
                    return
                }
                await handleRetrain(request)
                return
            case let other:
                throw InputViolation(.unexpectedKind, "\(other.kind) on the batch socket, which takes feature batches")
            }
        } catch {
            refusals.refuse(on: "pull", error)
            return
        }
        if let refusal = access?.checkBatch(batch, from: userID) {
            refusals.refuse(
                on: "pull", reason: InputViolation.Reason.forbidden.rawValue,
                detail: "batch \(batch.deviceID)#\(batch.deviceSeq): \(refusal)")
            return
        }
        counters.batches += 1
        counters.samples += batch.sampleIDs.count
        guard let deployment else {
            // No state yet: the batch is not acknowledged, so the device re-sends it later.
            counters.rejectedStale += 1
            logger.notice("batch before any heartbeat; left for the device to re-send",
                          metadata: ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)"])
            return
        }
        switch StaleBatchFence.decide(
            batch: FeatureStamps(
                modelVersion: ModelVersion(batch.modelVersion), freezePoint: FreezePoint(Int(batch.freezePoint)),
                hyperParameterHash: batch.hyperHash),
            epoch: batch.epoch, current: deployment)
        {
        case .accept:
            break
        case .advance(let from, let to):
            guard let advanced = await advanceStale(batch, from: from, to: to, deployment: deployment) else { return }
            batch = advanced
        case .leaveForRetry:
            counters.rejectedStale += 1
            logger.notice(
                "batch newer than this worker's state; left for the device to re-send",
                metadata: ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "freeze.point": "\(batch.freezePoint)"])
            return
        case .reject(let reason):
            counters.rejectedStale += 1
            logger.notice(
                "rejected a stale batch",
                metadata: [
                    "batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "freeze.point": "\(batch.freezePoint)",
                    "reason": "\(reason)",
                ])
            await returnRejection(batch, reason: reason, deployment: deployment)
            return
        }
        do {
            try await process(batch, deployment: deployment)
        } catch let violation as InputViolation {
            refusals.refuse(on: "pull", violation)
        } catch {
            counters.failures += 1
            logger.warning(
                "batch not trained (the device will re-send it)",
                metadata: ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "error": "\(error)"])
        }
    }

    /// Stores `batch` in the registry, then trains and commits the user's head.
    /// - Throws: ``InputViolation`` when the batch does not fit the model (checked before anything is
    ///   stored); ``NodeError`` or a store refusal when the registry does not cooperate.
    private mutating func process(_ batch: ThawWire.FeatureBatch, deployment: DeploymentState) async throws {
        // The model first: a batch that does not fit it must not reach the store, where it would poison
        // every later training of this user.
        let model = try await baseModel(deployment.modelVersion)
        let contract = ModelContract(model.architecture)
        try contract.checkBatch(
            shape: batch.activations.shape, labels: batch.labels, freezePoint: batch.freezePoint,
            what: "feature batch \(batch.deviceID)#\(batch.deviceSeq)")
        // Each accept checks the reply is about this request: a late answer to an earlier request that
        // timed out (the registry was down, then came back) must not be taken for this one.
        let stored = try await registry.request(.featureBatch(batch), stamper: &stamper) {
            if case .featureStored(let answer) = $0 {
                answer.deviceID == batch.deviceID && answer.deviceSeq == batch.deviceSeq
            } else {
                false
            }
        }
        if case .featureStored(let answer) = stored, answer.duplicate {
            // Stored before and already in the user's latest head: nothing to do. (A redelivery of a batch
            // that is stored but in no head yet comes back with `duplicate == false` and is trained.)
            counters.duplicates += 1
            return
        }
        try await train(
            user: batch.userID, deployment: deployment, seed: batch.deviceSeq,
            consumed: [BatchRef(deviceID: batch.deviceID, deviceSeq: batch.deviceSeq)])
    }

    /// Trains `user`'s head on everything stored under `deployment` and commits it (compare-and-set,
    /// retried on conflict). The registry's head and features are checked against the model first.
    mutating func train(user: String, deployment: DeploymentState, seed: UInt64, consumed: [BatchRef]) async throws {
        let model = try await baseModel(deployment.modelVersion)
        let contract = ModelContract(model.architecture)
        for _ in 0..<configuration.commitAttempts {
            let head = try await registry.request(
                .headRequest(
                    HeadRequest(
                        userID: user, deviceID: "", haveHash: "", modelVersion: deployment.modelVersion.number,
                        freezePoint: UInt32(deployment.freezePoint.index))),
                stamper: &stamper
            ) { if case .headReply(let reply) = $0 { reply.userID == user } else { false } }
            guard case .headReply(let current) = head else { return }
            if current.status == .head {
                try contract.checkHead(
                    count: current.headParameters?.scalars.count ?? 0, freezePoint: current.freezePoint,
                    what: "the registry's head of \(user)")
            }
            let parent = current.status == .head ? current.headVersion : 0
            let start = current.status == .head ? current.headParameters?.scalars : nil
            let parentVersion = current.status == .staleRequest ? current.headVersion : parent

            let fetched = try await registry.request(
                .featureFetch(
                    FeatureFetch(
                        userID: user, modelVersion: deployment.modelVersion.number,
                        freezePoint: UInt32(deployment.freezePoint.index),
                        maxSamples: UInt32(configuration.maxSamplesPerUser),
                        hyperHash: deployment.hyperParameterHash)),
                stamper: &stamper
            ) { if case .featureSet(let set) = $0 { set.userID == user } else { false } }
            guard case .featureSet(let features) = fetched, !features.labels.isEmpty else {
                throw NodeError(.refused, "the registry returned no stored features for \(user)")
            }
            try contract.checkBatch(
                shape: features.activations.shape, labels: features.labels,
                freezePoint: UInt32(deployment.freezePoint.index), what: "the registry's stored features of \(user)")

            let trainer = HeadTrainer(model: model, recipe: configuration.recipe)
            let result = trainer.train(
                start: start, activations: WireBridge.tensor(features.activations),
                labels: features.labels.map(Int.init), freezePoint: deployment.freezePoint,
                seed: seed &+ parentVersion)
            counters.trainedSamples += features.labels.count * configuration.recipe.epochs
            counters.lastLoss = Double(result.loss)
            let commit = ThawWire.HeadCommit(
                userID: user, parentVersion: parentVersion, modelVersion: deployment.modelVersion.number,
                freezePoint: UInt32(deployment.freezePoint.index), hyperHash: deployment.hyperParameterHash,
                headHash: ContentHash.head(
                    parameters: result.parameters, freezePoint: deployment.freezePoint,
                    architecture: model.architecture
                ).hex,
                consumed: consumed,
                metrics: TrainingMetrics(
                    loss: Double(result.loss), samples: UInt64(features.labels.count), steps: UInt64(result.steps)),
                headParameters: WireTensor(flat: result.parameters))
            let outcome = try await registry.request(.headCommit(commit), stamper: &stamper) {
                switch $0 {
                case .commitAck(let ack): ack.userID == user
                case .commitConflict(let conflict): conflict.userID == user
                default: false
                }
            }
            if case .commitAck(let ack) = outcome {
                counters.commits += 1
                logger.info(
                    "committed a head",
                    metadata: ["user": "\(user)", "head.version": "\(ack.version)", "loss": "\(result.loss)"])
                return
            }
            counters.conflicts += 1
        }
        throw NodeError(.refused, "gave up after \(configuration.commitAttempts) conflicting commits for \(user)")
    }

    /// The base model of `version`, fetched once from the registry and checked against its hash.
    mutating func baseModel(_ version: ModelVersion) async throws -> Model {
        if let model, modelVersion == version { return model }
        let made = try await registry.baseModel(version, stamper: &stamper)
        model = made
        modelVersion = version
        return made
    }

    func metricsReport() -> MetricsReport {
        let seconds = max((ContinuousClock.now - started) / .seconds(1), 0.001)
        return MetricsReport(
            node: configuration.name, role: "worker", timestampMs: WallClock.nowMs(),
            gauges: [
                "batches_per_s": Double(counters.batches) / seconds,
                "samples_per_s": Double(counters.trainedSamples) / seconds,
                "loss": counters.lastLoss,
            ],
            counters: [
                "batches": UInt64(counters.batches), "commits": UInt64(counters.commits),
                "conflicts": UInt64(counters.conflicts), "duplicates": UInt64(counters.duplicates),
                "rejected_stale": UInt64(counters.rejectedStale), "failures": UInt64(counters.failures),
                "advanced_stale": UInt64(counters.advancedStale),
                "rejections_returned": UInt64(counters.rejectionsReturned), "retrains": UInt64(counters.retrains),
            ].merging(refusals.counters) { $1 },
            labels: [:])
    }
}
