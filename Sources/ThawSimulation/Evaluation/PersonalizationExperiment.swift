import ThawData
import ThawDeviceProfile
import ThawLearning
import ThawNN
import ThawNodes
import ThawWire

/// Time and device energy until users' held-out accuracy reaches a target, on the shipped handwriting data:
/// Thaw (per-user heads trained on workers from uploaded activations) against FedAvg (one global head trained
/// by the phones, rounds on a simulated clock) and FedAvg followed by local fine-tuning.
///
/// Everything that learns is executed for real: the backbone features, every Thaw epoch, every FedAvg local
/// update and the averaging (through ``FedAvgServerStateMachine``). What is simulated is time and energy on
/// the phones: FLOPs counted by the model and bytes from the wire encoding, priced by the ``DeviceProfile``.
/// Worker time is this machine's measured wall time; `workers` divides it, assuming perfect parallelism.
public struct PersonalizationExperiment {
    public struct Configuration: Sendable {
        public var freezePoint: FreezePoint
        public var users: [UInt16]
        public var splitter: UserSplitter
        public var profile: DeviceProfile
        public var fedAvg: FedAvgSettings
        /// Thaw's per-user head training: epochs, batch size, SGD learning rate and momentum.
        public var thawEpochs: Int
        public var thawBatchSize: Int
        public var thawLearningRate: Float
        public var thawMomentum: Float
        public var workers: Int
        /// Epochs of on-device fine-tuning after FedAvg (the "FedAvg + local fine-tuning" variant).
        public var fineTuneEpochs: Int
        /// Spread of phone speeds: each phone's FLOP/s is the profile's times exp(σ·N(0,1)).
        public var speedSpread: Double
        /// Probability that a selected phone drops out after receiving the model.
        public var dropoutProbability: Double
        /// Held-out accuracy to reach; nil: the best mean accuracy both systems reach.
        public var targetAccuracy: Double?
        /// How Thaw's phones upload activations: heads are trained on what the worker decodes (the
        /// uploaded activations encoded and decoded), and the upload is priced at the encoded size. The
        /// phone's own held-out evaluation runs on its float32 activations, as on a real phone.
        public var activationEncoding: ActivationEncoding = .float32
        /// Clipping plus Gaussian noise on every uploaded row, applied before the encoding as a phone does
        /// (``ActivationNoise``); nil uploads clean rows. The phone's evaluation stays on clean activations.
        public var activationNoise: ActivationNoise?
        /// The phones' noise secret. A deployment draws it at random (``UploadNoiseKey/random()``); an
        /// experiment fixes it so that its figures can be reproduced.
        public var noiseKey = UploadNoiseKey(secret: 0x5EED_0F_A015E)

        public init(
            freezePoint: FreezePoint, users: [UInt16], splitter: UserSplitter = UserSplitter(),
            profile: DeviceProfile = .phoneOnLTE, fedAvg: FedAvgSettings, thawEpochs: Int = 20,
            thawBatchSize: Int = 16, thawLearningRate: Float = 0.01, thawMomentum: Float = 0.9, workers: Int = 1,
            fineTuneEpochs: Int = 5, speedSpread: Double = 0.5, dropoutProbability: Double = 0.1,
            targetAccuracy: Double? = nil
        ) {
            self.freezePoint = freezePoint
            self.users = users
            self.splitter = splitter
            self.profile = profile
            self.fedAvg = fedAvg
            self.thawEpochs = thawEpochs
            self.thawBatchSize = thawBatchSize
            self.thawLearningRate = thawLearningRate
            self.thawMomentum = thawMomentum
            self.workers = workers
            self.fineTuneEpochs = fineTuneEpochs
            self.speedSpread = speedSpread
            self.dropoutProbability = dropoutProbability
            self.targetAccuracy = targetAccuracy
        }
    }

    /// A point of a learning curve: elapsed (simulated) seconds, mean per-user held-out accuracy, and the mean
    /// device energy per user spent so far.
    public struct CurvePoint: Sendable, Codable {
        public var step: Int
        public var seconds: Double
        public var accuracy: Double
        public var joulesPerUser: Double
    }

    /// Mean device energy and traffic per user, by category.
    public struct EnergyBreakdown: Sendable, Codable {
        public var compute = 0.0
        public var transfer = 0.0
        public var tail = 0.0
        public var bytes = 0.0
        public var total: Double { compute + transfer + tail }

        init(meters: [DeviceMeter]) {
            let n = Double(max(1, meters.count))
            for meter in meters {
                compute += meter.ledger[.compute] / n
                transfer += meter.ledger[.radioTransfer] / n
                tail += meter.ledger[.radioTail] / n
                bytes += Double(meter.ledger.bytesUp + meter.ledger.bytesDown) / n
            }
        }
    }

    /// Thaw under one activation encoding: accuracy on the held-out samples and bytes uploaded, with
    /// every writer compared to the same writer's head trained on float32 activations.
    public struct EncodingResult: Sendable, Codable {
        public var encoding: String
        /// Mean per-writer held-out accuracy of the final heads.
        public var meanAccuracy: Double
        /// Mean FeatureBatch bytes a phone uploaded (all its adaptation samples in one batch).
        public var uploadBytesPerUser: Double
        /// Writers whose final head is worse / better than their float32 head, on held-out samples.
        public var writersWorse: Int
        public var writersBetter: Int
        /// The largest per-writer accuracy drop against float32 (0 when none is worse).
        public var largestDrop: Double
        /// Per writer: held-out accuracy of the final head.
        public var perWriter: [UInt16: Double]
    }

    public struct Result: Sendable, Codable {
        public var users: Int
        public var headParameters: Int
        public var baseAccuracy: Double
        public var targetAccuracy: Double
        public var thawCurve: [CurvePoint]
        public var fedAvgCurve: [CurvePoint]
        public var thawEnergy: EnergyBreakdown
        public var fedAvgEnergy: EnergyBreakdown
        public var fineTuneAccuracy: Double
        public var fineTuneSeconds: Double
        public var fineTuneEnergy: EnergyBreakdown
        public var thawSecondsToTarget: Double?
        public var fedAvgSecondsToTarget: Double?
        public var thawJoulesToTarget: Double?
        public var fedAvgJoulesToTarget: Double?
        public var stragglers: Int
        public var dropouts: Int
        public var lateUpdatesRefused: Int
        public var serverAggregationSeconds: Double
        /// Measured worker seconds to train one user's head for all Thaw epochs (mean over users).
        public var thawWorkerSecondsPerUser: Double
        /// A Thaw phone's own simulated time: backbone, upload, head download (no worker time).
        public var thawDeviceSeconds: Double
        public var fedAvgRoundsToTarget: Int?
    }

    package struct UserData {
        package var writer: UInt16
        package var inputs: Tensor
        package var labels: [Int]
        package var evalInputs: Tensor
        package var evalLabels: [Int]
        package var backboneFLOPs: FLOPCount
    }

    public var configuration: Configuration

    public init(configuration: Configuration) { self.configuration = configuration }

    public func run(base: Model, samples: HandwritingSamples) -> Result {
        run(base: base, users: prepare(base: base, samples: samples))
    }

    package func run(base: Model, users: [UserData]) -> Result {
        let k = configuration.freezePoint
        let headSize = base.parameterRange(layers: k.index..<base.layerCount).count
        let baseHead = base.headParameters(from: k)
        let evaluator = base.copy()
        func meanAccuracy(_ head: (Int) -> [Float]) -> Double {
            var sum = 0.0
            for (index, user) in users.enumerated() {
                evaluator.setHeadParameters(head(index), from: k)
                sum += evaluator.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy
            }
            return sum / Double(users.count)
        }
        let baseAccuracy = meanAccuracy { _ in baseHead }
        let thaw = runThaw(base: base, users: users, headSize: headSize)
        var fedAvg = runFedAvg(base: base, users: users, headSize: headSize, meanAccuracy: meanAccuracy)
        let fineTune = runFineTune(base: base, users: users, global: fedAvg.finalHead, meters: &fedAvg.meters)

        let target =
            configuration.targetAccuracy
            ?? min(thaw.curve.map(\.accuracy).max() ?? 0, fedAvg.curve.map(\.accuracy).max() ?? 0)
        let thawHit = thaw.curve.first { $0.accuracy >= target - 1e-9 }
        let fedAvgHit = fedAvg.curve.first { $0.accuracy >= target - 1e-9 }
        return Result(
            users: users.count, headParameters: headSize, baseAccuracy: baseAccuracy, targetAccuracy: target,
            thawCurve: thaw.curve, fedAvgCurve: fedAvg.curve, thawEnergy: EnergyBreakdown(meters: thaw.meters),
            fedAvgEnergy: fedAvg.energyBeforeFineTune, fineTuneAccuracy: fineTune.accuracy,
            fineTuneSeconds: fineTune.seconds, fineTuneEnergy: EnergyBreakdown(meters: fedAvg.meters),
            thawSecondsToTarget: thawHit?.seconds, fedAvgSecondsToTarget: fedAvgHit?.seconds,
            thawJoulesToTarget: thawHit?.joulesPerUser, fedAvgJoulesToTarget: fedAvgHit?.joulesPerUser,
            stragglers: fedAvg.stragglers, dropouts: fedAvg.dropouts, lateUpdatesRefused: fedAvg.refused,
            serverAggregationSeconds: fedAvg.aggregationSeconds,
            thawWorkerSecondsPerUser: thaw.workerSeconds / Double(max(1, users.count)),
            thawDeviceSeconds: thaw.curve.first?.seconds ?? 0, fedAvgRoundsToTarget: fedAvgHit?.step)
    }

    /// Backbone features of each user's adaptation and evaluation samples (the phone's one-off work).
    package func prepare(base: Model, samples: HandwritingSamples) -> [UserData] {
        let k = configuration.freezePoint
        return configuration.users.map { writer in
            let split = configuration.splitter.split(samples, writer: writer)
            let before = base.executedFLOPs
            let inputs = Batching.backboneActivations(
                base, input: Batching.images(samples, split.adaptation), freezePoint: k)
            let flops = base.executedFLOPs - before
            let evalInputs = Batching.backboneActivations(
                base, input: Batching.images(samples, split.evaluation), freezePoint: k)
            return UserData(
                writer: writer, inputs: inputs, labels: samples.intLabels(split.adaptation), evalInputs: evalInputs,
                evalLabels: samples.intLabels(split.evaluation), backboneFLOPs: flops)
        }
    }

    // MARK: - Thaw

    func runThaw(base: Model, users: [UserData], headSize: Int)
        -> (curve: [CurvePoint], meters: [DeviceMeter], workerSeconds: Double, finalAccuracy: [Double])
    {
        let k = configuration.freezePoint
        let epochs = configuration.thawEpochs
        var accuracy = [[Double]](repeating: [Double](repeating: 0, count: epochs + 1), count: users.count)
        var workerSeconds = [Double](repeating: 0, count: epochs + 1)
        var meters: [DeviceMeter] = []
        var uploadDone = 0.0
        let features = Tensor.elementCount(base.architecture.activationShape(at: k.index))
        let clock = ContinuousClock()
        let encoding = configuration.activationEncoding
        for (index, user) in users.enumerated() {
            var meter = DeviceMeter(profile: configuration.profile)
            meter.compute(user.backboneFLOPs)
            meter.transfer(
                bytesUp: WireSizes.featureBatch(samples: user.labels.count, features: features, encoding: encoding),
                bytesDown: 0)
            // The worker trains on what it decodes; float32 travels unchanged.
            let uploaded = Self.uploaded(
                user.inputs, encoding: encoding, noise: configuration.activationNoise,
                key: configuration.noiseKey, device: "writer-\(user.writer)")
            uploadDone = max(uploadDone, meter.clock)
            meters.append(meter)
            let model = base.copy()
            accuracy[index][0] = model.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy
            var optimizer = SGD(learningRate: configuration.thawLearningRate, momentum: configuration.thawMomentum)
            for epoch in 1...max(1, epochs) where epoch <= epochs {
                let trainer = MinibatchTrainer(
                    epochs: 1, batchSize: configuration.thawBatchSize,
                    seed: configuration.fedAvg.seed &+ UInt64(epoch) &* 1_000_003 &+ UInt64(user.writer))
                let start = clock.now
                trainer.train(model, inputs: uploaded, labels: user.labels, freezePoint: k, optimizer: &optimizer)
                workerSeconds[epoch] += (clock.now - start) / .seconds(1)
                accuracy[index][epoch] = model.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy
            }
        }
        // Users are trained by `workers` workers in parallel once their features are uploaded; each phone
        // then downloads its head. Curve point e: every user's head after e epochs.
        let headBytes = WireSizes.headReply(parameters: headSize)
        var cumulative = 0.0
        var curve: [CurvePoint] = []
        for epoch in 0...epochs {
            cumulative += workerSeconds[epoch]
            var downloaded = meters
            var end = 0.0
            for index in downloaded.indices {
                downloaded[index].wait(until: uploadDone + cumulative / Double(configuration.workers))
                downloaded[index].transfer(bytesUp: WireSizes.headRequest, bytesDown: headBytes)
                end = max(end, downloaded[index].clock)
                downloaded[index].finish()
            }
            let mean = accuracy.map { $0[epoch] }.reduce(0, +) / Double(users.count)
            curve.append(
                CurvePoint(
                    step: epoch, seconds: end, accuracy: mean, joulesPerUser: EnergyBreakdown(meters: downloaded).total)
            )
            if epoch == epochs { meters = downloaded }
        }
        return (curve, meters, cumulative, accuracy.map { $0[epochs] })
    }

    /// Per user, held-out accuracy of the base head, of the head ``runThaw(base:users:headSize:)`` trains
    /// (the same uploads, seeds and steps), and of that head pulled back to `base + w · (trained − base)`
    /// as a worker commits it (``HeadInterpolation``). Only the final heads are evaluated.
    package func finalHeads(base: Model, users: [UserData], interpolation: Float)
        -> (base: [Double], trained: [Double], interpolated: [Double])
    {
        let k = configuration.freezePoint
        let baseHead = base.headParameters(from: k)
        var result: (base: [Double], trained: [Double], interpolated: [Double]) = ([], [], [])
        for user in users {
            let uploaded = Self.uploaded(
                user.inputs, encoding: configuration.activationEncoding, noise: configuration.activationNoise,
                key: configuration.noiseKey, device: "writer-\(user.writer)")
            let model = base.copy()
            result.base.append(model.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy)
            var optimizer = SGD(learningRate: configuration.thawLearningRate, momentum: configuration.thawMomentum)
            for epoch in 1...max(1, configuration.thawEpochs) where epoch <= configuration.thawEpochs {
                let trainer = MinibatchTrainer(
                    epochs: 1, batchSize: configuration.thawBatchSize,
                    seed: configuration.fedAvg.seed &+ UInt64(epoch) &* 1_000_003 &+ UInt64(user.writer))
                trainer.train(model, inputs: uploaded, labels: user.labels, freezePoint: k, optimizer: &optimizer)
            }
            result.trained.append(model.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy)
            model.setHeadParameters(
                HeadInterpolation.interpolate(
                    anchor: baseHead, trained: model.headParameters(from: k), weight: interpolation),
                from: k)
            result.interpolated.append(model.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy)
        }
        return result
    }

    /// `inputs` as a worker decodes them after the phone uploaded them in `encoding` (rows = samples),
    /// noised first when `noise` is set: each row keyed by `device` and its row number, as a phone keys
    /// rows by sample id (``UploadNoiseKey``).
    package static func uploaded(
        _ inputs: Tensor, encoding: ActivationEncoding, noise: ActivationNoise? = nil,
        key: UploadNoiseKey = UploadNoiseKey(secret: 0), device: String = ""
    ) -> Tensor {
        guard encoding != .float32 || noise != nil else { return inputs }
        let rows = inputs.shape[0]
        let perRow = inputs.count / max(1, rows)
        var scalars = Array(inputs.scalars)
        if let noise, perRow > 0 {
            noise.apply(to: &scalars, valuesPerRow: perRow) { row in
                key.generator(device: device, sampleId: UInt64(row), freezePoint: 0, stamp: noise.stampPart)
            }
        }
        guard encoding != .float32 else { return Tensor(shape: inputs.shape, scalars: scalars) }
        let wire = WireTensor(shape: [rows, perRow], scalars: scalars)
        return Tensor(shape: inputs.shape, scalars: ActivationCodec.roundTrip(wire, as: encoding).scalars)
    }

    /// Thaw's final heads under each of `encodings`, every writer compared with its float32 head.
    package func compareEncodings(base: Model, users: [UserData], encodings: [ActivationEncoding]) -> [EncodingResult] {
        let k = configuration.freezePoint
        let headSize = base.parameterRange(layers: k.index..<base.layerCount).count
        let features = Tensor.elementCount(base.architecture.activationShape(at: k.index))
        var reference: [Double]?
        var results: [EncodingResult] = []
        for encoding in [ActivationEncoding.float32] + encodings.filter({ $0 != .float32 }) {
            var variant = self
            variant.configuration.activationEncoding = encoding
            let finals = variant.runThaw(base: base, users: users, headSize: headSize).finalAccuracy
            let baseline = reference ?? finals
            reference = baseline
            let drops = zip(baseline, finals).map { $0 - $1 }
            let bytes = users.map {
                Double(WireSizes.featureBatch(samples: $0.labels.count, features: features, encoding: encoding))
            }.reduce(0, +) / Double(max(1, users.count))
            results.append(
                EncodingResult(
                    encoding: encoding.rawValue, meanAccuracy: finals.reduce(0, +) / Double(max(1, finals.count)),
                    uploadBytesPerUser: bytes, writersWorse: drops.filter { $0 > 1e-12 }.count,
                    writersBetter: drops.filter { $0 < -1e-12 }.count, largestDrop: max(0, drops.max() ?? 0),
                    perWriter: Dictionary(uniqueKeysWithValues: zip(users.map(\.writer), finals))))
        }
        return results.filter { result in encodings.contains { $0.rawValue == result.encoding } }
    }

    // MARK: - FedAvg

    struct FedAvgRun {
        var curve: [CurvePoint]
        var meters: [DeviceMeter]
        var energyBeforeFineTune: EnergyBreakdown
        var finalHead: [Float]
        var stragglers = 0
        var dropouts = 0
        var refused = 0
        var aggregationSeconds = 0.0
    }

    func runFedAvg(base: Model, users: [UserData], headSize: Int, meanAccuracy: ((Int) -> [Float]) -> Double)
        -> FedAvgRun
    {
        let k = configuration.freezePoint
        var fleet = FedAvgFleetSimulation(
            settings: configuration.fedAvg, initialWeights: base.headParameters(from: k),
            profile: configuration.profile,
            clients: users.map {
                FedAvgFleetSimulation.ClientData(inputs: $0.inputs, labels: $0.labels, seed: UInt64($0.writer))
            },
            freezePoint: k, model: base.copy(), speedSpread: configuration.speedSpread,
            dropoutProbability: configuration.dropoutProbability)
        // Every phone first computes its backbone features, as a Thaw phone does.
        for (index, user) in users.enumerated() { fleet.meters[index].compute(user.backboneFLOPs) }
        fleet.now = fleet.meters.map(\.clock).max() ?? 0
        var curve = [
            CurvePoint(
                step: 0, seconds: fleet.now, accuracy: meanAccuracy { _ in fleet.server.globalWeights },
                joulesPerUser: EnergyBreakdown(meters: fleet.meters).total)
        ]
        while !fleet.server.isFinished {
            fleet.runRound()
            let weights = fleet.server.globalWeights
            curve.append(
                CurvePoint(
                    step: fleet.server.round, seconds: fleet.now, accuracy: meanAccuracy { _ in weights },
                    joulesPerUser: EnergyBreakdown(meters: fleet.settledMeters).total))
        }
        return FedAvgRun(
            curve: curve, meters: fleet.meters, energyBeforeFineTune: EnergyBreakdown(meters: fleet.settledMeters),
            finalHead: fleet.server.globalWeights, stragglers: fleet.stragglers, dropouts: fleet.dropouts,
            refused: fleet.refused, aggregationSeconds: fleet.aggregationSeconds)
    }

    /// FedAvg's global head, then `fineTuneEpochs` of local training on each phone.
    func runFineTune(base: Model, users: [UserData], global: [Float], meters: inout [DeviceMeter])
        -> (accuracy: Double, seconds: Double)
    {
        let k = configuration.freezePoint
        let model = base.copy()
        var sum = 0.0
        var longest = 0.0
        for (index, user) in users.enumerated() {
            model.setHeadParameters(global, from: k)
            var optimizer = SGD(learningRate: configuration.fedAvg.learningRate)
            let trainer = MinibatchTrainer(
                epochs: configuration.fineTuneEpochs, batchSize: configuration.fedAvg.batchSize,
                seed: configuration.fedAvg.seed &+ UInt64(user.writer))
            let before = model.executedFLOPs
            trainer.train(model, inputs: user.inputs, labels: user.labels, freezePoint: k, optimizer: &optimizer)
            let start = meters[index].clock
            meters[index].compute(model.executedFLOPs - before)
            meters[index].finish()
            longest = max(longest, meters[index].clock - start)
            sum += model.evaluate(user.evalInputs, labels: user.evalLabels, from: k).accuracy
        }
        return (sum / Double(max(1, users.count)), longest)
    }

}
