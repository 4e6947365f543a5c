import ThawDeviceProfile
import ThawNN
import ThawNodes
import ThawWire

/// Training throughput as the head grows: Thaw (the head trained on a worker, this machine's CPU, measured)
/// against FedAvg (the same training executed here, its FLOPs counted and priced at the phone's speed, plus
/// the weight transfer both ways over the radio).
///
/// The unit compared is one user's local round: E epochs over the user's n samples with batch B. Thaw's
/// phone uploads the n activations and downloads the trained head; FedAvg's phone downloads the global
/// head, trains, and uploads it. Both phones computed the backbone features before (same cost, excluded).
public struct ThroughputExperiment {
    /// One head architecture on top of the backbone features.
    public struct HeadSize: Sendable, Hashable {
        public var hidden: Int
        public var depth: Int
        public var architecture: ModelArchitecture
        public var parameters: Int { architecture.parameterCount }
    }

    /// One row of results.
    public struct Row: Sendable, Codable {
        public var parameters: Int
        public var hidden: Int
        public var depth: Int
        public var radio: String
        /// How Thaw's phone uploaded its activations (float32, float16, int8); FedAvg is the same in every encoding.
        public var encoding: String
        /// Worker (this CPU) training rate, measured: median of the runs.
        public var workerStepsPerSecond: Double
        /// Phone training rate from the counted FLOPs and the profile.
        public var deviceStepsPerSecond: Double
        public var flopsPerStep: Double
        public var thawSecondsPerRound: Double
        public var fedAvgSecondsPerRound: Double
        public var thawSamplesPerSecond: Double
        public var fedAvgSamplesPerSecond: Double
        public var thawStepsPerSecond: Double
        public var fedAvgStepsPerSecond: Double
        /// Thaw / FedAvg samples per second (> 1: Thaw is faster).
        public var throughputRatio: Double
        public var thawDeviceJoules: Double
        public var fedAvgDeviceJoules: Double
        public var thawComputeJoules: Double
        public var thawTransferJoules: Double
        public var thawTailJoules: Double
        public var fedAvgComputeJoules: Double
        public var fedAvgTransferJoules: Double
        public var fedAvgTailJoules: Double
        public var thawRadioBytes: Int
        public var fedAvgRadioBytes: Int
        /// How Thaw's phone downloaded the round's head: `"delta"` (XOR-deflate against the head it ran,
        /// docs/PROTOCOL.md "Head deltas") or `"full"`; and the bytes of that reply and of a full one.
        public var thawHeadDownload: String
        public var thawHeadDownloadBytes: Int
        public var fullHeadReplyBytes: Int
        /// Thaw / FedAvg device joules (< 1: Thaw uses less energy).
        public var energyRatio: Double
    }

    public var features: Int
    public var classes: Int
    public var samplesPerUser: Int
    public var settings: FedAvgSettings
    public var runs: Int
    /// Whether Thaw's phone downloads each round's head as a delta against the one it ran (true) or in full.
    public var headDeltas = true
    /// The workers' head interpolation α: they commit `base + α·(trained − base)` (0.5 by default).
    public var headInterpolation: Float = 0.5

    public init(features: Int, classes: Int, samplesPerUser: Int, settings: FedAvgSettings, runs: Int) {
        self.features = features
        self.classes = classes
        self.samplesPerUser = samplesPerUser
        self.settings = settings
        self.runs = runs
    }

    /// Heads from a linear classifier (a few thousand parameters) to wide MLPs, up to `maximumParameters`.
    public func ladder(maximumParameters: Int) -> [HeadSize] {
        let shapes = [(0, 0), (64, 1), (512, 1), (1024, 2), (2048, 3), (4096, 2), (4096, 3), (8192, 2)]
        return shapes.map { hidden, depth in
            HeadSize(
                hidden: hidden, depth: depth,
                architecture: .mlpHead(inputs: features, hidden: max(hidden, 1), depth: depth, classes: classes))
        }.filter { $0.parameters <= maximumParameters }
    }

    /// Steps in one local round: E epochs of ⌈n / B⌉ minibatches.
    public var stepsPerRound: Int {
        settings.localEpochs * ((samplesPerUser + settings.batchSize - 1) / settings.batchSize)
    }

    /// Measures one head size under each radio profile and each activation encoding of Thaw's upload
    /// (the worker's training is measured once: it trains on decoded float32 values whatever the encoding).
    public func measure(
        _ head: HeadSize, profiles: [DeviceProfile], encodings: [ActivationEncoding] = [.float32]
    ) -> [Row] {
        let model = Model(architecture: head.architecture, seed: settings.seed)
        var generator = SeededGenerator(seed: settings.seed &+ 7)
        let batch = settings.batchSize
        let input = Tensor(
            shape: [batch, features], scalars: (0..<(batch * features)).map { _ in generator.nextUnitFloat() })
        let labels = (0..<batch).map { $0 % classes }
        var optimizer = SGD(learningRate: settings.learningRate)
        let freeze = FreezePoint(0)
        model.trainStep(input: input, labels: labels, freezePoint: freeze, optimizer: &optimizer)  // warm-up
        let steps = stepsPerRound
        var rates: [Double] = []
        var flopsPerStep = 0.0
        let clock = ContinuousClock()
        var roundStart: [Float] = []
        for _ in 0..<runs {
            roundStart = model.headParameters(from: freeze)
            model.resetExecutedFLOPs()
            let start = clock.now
            for _ in 0..<steps {
                model.trainStep(input: input, labels: labels, freezePoint: freeze, optimizer: &optimizer)
            }
            let seconds = (clock.now - start) / .seconds(1)
            rates.append(Double(steps) / seconds)
            flopsPerStep = Double(model.executedFLOPs.total) / Double(steps)
        }
        let workerRate = rates.sorted()[rates.count / 2]
        let localFLOPs = FLOPCount(
            forward: model.executedFLOPs.forward, backward: model.executedFLOPs.backward,
            optimizer: model.executedFLOPs.optimizer)
        let headBytes = WireSizes.headReply(parameters: head.parameters)
        // The head this round commits, as a worker would (half-way from the head the phone runs), and the
        // delta the phone downloads instead of it: measured on the round just trained, not assumed.
        let trained = model.headParameters(from: freeze)
        let committed = zip(roundStart, trained).map { base, new in base + headInterpolation * (new - base) }
        let deltaBytes = (try? HeadDelta.encode(base: roundStart, target: committed)).map {
            WireSizes.headDeltaReply(deltaBytes: $0.count)
        }
        let useDelta = headDeltas && (deltaBytes ?? .max) < headBytes
        let thawDownloadBytes = useDelta ? deltaBytes ?? headBytes : headBytes
        let samples = Double(settings.localEpochs * samplesPerUser)

        return profiles.flatMap { profile in encodings.map { encoding in
            let uploadBytes = WireSizes.featureBatch(samples: samplesPerUser, features: features, encoding: encoding)
            // Thaw: upload the activations, the worker trains, download the head.
            var thaw = DeviceMeter(profile: profile)
            thaw.transfer(bytesUp: uploadBytes, bytesDown: 0)
            thaw.wait(until: thaw.clock + Double(steps) / workerRate)
            thaw.transfer(bytesUp: WireSizes.headRequest, bytesDown: thawDownloadBytes)
            let thawSeconds = thaw.clock
            thaw.finish()
            // FedAvg: download the global head, train E epochs on the phone, upload the update.
            var fedAvg = DeviceMeter(profile: profile)
            fedAvg.transfer(bytesUp: 0, bytesDown: headBytes)
            fedAvg.compute(localFLOPs)
            fedAvg.transfer(bytesUp: headBytes, bytesDown: 0)
            let fedAvgSeconds = fedAvg.clock
            fedAvg.finish()
            let deviceRate = profile.compute.flopsPerSecond / flopsPerStep
            return Row(
                parameters: head.parameters, hidden: head.hidden, depth: head.depth, radio: profile.radio.name,
                encoding: encoding.rawValue,
                workerStepsPerSecond: workerRate, deviceStepsPerSecond: deviceRate, flopsPerStep: flopsPerStep,
                thawSecondsPerRound: thawSeconds, fedAvgSecondsPerRound: fedAvgSeconds,
                thawSamplesPerSecond: samples / thawSeconds, fedAvgSamplesPerSecond: samples / fedAvgSeconds,
                thawStepsPerSecond: Double(steps) / thawSeconds, fedAvgStepsPerSecond: Double(steps) / fedAvgSeconds,
                throughputRatio: fedAvgSeconds / thawSeconds, thawDeviceJoules: thaw.ledger.total,
                fedAvgDeviceJoules: fedAvg.ledger.total, thawComputeJoules: thaw.ledger[.compute],
                thawTransferJoules: thaw.ledger[.radioTransfer], thawTailJoules: thaw.ledger[.radioTail],
                fedAvgComputeJoules: fedAvg.ledger[.compute], fedAvgTransferJoules: fedAvg.ledger[.radioTransfer],
                fedAvgTailJoules: fedAvg.ledger[.radioTail],
                thawRadioBytes: thaw.ledger.bytesUp + thaw.ledger.bytesDown,
                fedAvgRadioBytes: fedAvg.ledger.bytesUp + fedAvg.ledger.bytesDown,
                thawHeadDownload: useDelta ? "delta" : "full", thawHeadDownloadBytes: thawDownloadBytes,
                fullHeadReplyBytes: headBytes,
                energyRatio: thaw.ledger.total / fedAvg.ledger.total)
        } }
    }
}
