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
        var advancedStale = 0
        var rejectionsReturned = 0
        var retrains = 0
        var malformed = 0
        var failures = 0
        var lastLoss: Double = 0
    }

    let configuration: TrainerWorkerNode.Configuration
    let logger: Logger
    let registry: RegistryClient
    var stamper: EnvelopeStamper
    var deployment: DeploymentState?
    var model: Model?
    var modelVersion: ModelVersion?
    var counters = Counters()
    let started = ContinuousClock.now

    init(configuration: TrainerWorkerNode.Configuration, logger: Logger, registry: RegistryClient) {
        self.configuration = configuration
        self.logger = logger
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

    mutating func handleBatch(_ frames: [[UInt8]]) async {
        var batch: ThawWire.FeatureBatch
        do {
            switch try WireCodec.decode(frames).message {
            case .featureBatch(let decoded):
                batch = decoded
            case .retrainRequest(let request):
                await handleRetrain(request)
                return
            default:
                counters.malformed += 1
                logger.warning("refused a message that is not a feature batch on the batch socket")
                return
            }
        } catch {
            counters.malformed += 1
            logger.warning("refused a malformed batch", metadata: ["error": "\(error)"])
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
                metadata: ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "freeze.point": "\(batch.freezePoint)",
                           "reason": "\(reason)"])
            await returnRejection(batch, reason: reason, deployment: deployment)
            return
        }
        do {
            try await process(batch, deployment: deployment)
        } catch {
            counters.failures += 1
            logger.warning(
                "batch not trained (the device will re-send it)",
                metadata: ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "error": "\(error)"])
        }
    }

    private mutating func process(_ batch: ThawWire.FeatureBatch, deployment: DeploymentState) async throws {
        let stored = try await registry.request(.featureBatch(batch), stamper: &stamper) {
            if case .featureStored = $0 { true } else { false }
        }
        if case .featureStored(let answer) = stored, answer.duplicate {
            // Already durable, and trained into a head by whoever stored it first.
            counters.duplicates += 1
            return
        }
        try await train(
            user: batch.userID, deployment: deployment, seed: batch.deviceSeq,
            consumed: [BatchRef(deviceID: batch.deviceID, deviceSeq: batch.deviceSeq)])
    }

    /// Trains `user`'s head on everything stored under `deployment` and commits it (compare-and-set,
    /// retried on conflict).
    mutating func train(user: String, deployment: DeploymentState, seed: UInt64, consumed: [BatchRef]) async throws {
        let model = try await baseModel(deployment.modelVersion)
        for _ in 0..<configuration.commitAttempts {
            let head = try await registry.request(
                .headRequest(
                    HeadRequest(
                        userID: user, deviceID: "", haveHash: "", modelVersion: deployment.modelVersion.number,
                        freezePoint: UInt32(deployment.freezePoint.index))),
                stamper: &stamper
            ) { if case .headReply = $0 { true } else { false } }
            guard case .headReply(let current) = head else { return }
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
            ) { if case .featureSet = $0 { true } else { false } }
            guard case .featureSet(let features) = fetched, !features.labels.isEmpty else {
                throw NodeError(.refused, "the registry returned no stored features for \(user)")
            }

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
                case .commitAck, .commitConflict: true
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
                "rejected_stale": UInt64(counters.rejectedStale), "malformed": UInt64(counters.malformed),
                "failures": UInt64(counters.failures), "advanced_stale": UInt64(counters.advancedStale),
                "rejections_returned": UInt64(counters.rejectionsReturned), "retrains": UInt64(counters.retrains),
            ],
            labels: [:])
    }
}
