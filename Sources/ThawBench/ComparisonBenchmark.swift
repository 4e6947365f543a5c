import Foundation
import ThawData
import ThawDeviceProfile
import ThawLearning
import ThawNN
import ThawNodes
import ThawSimulation
import ThawWire

/// Everything `thaw bench compare` measures, in one run: throughput by head size, personalisation to a
/// target accuracy with device energy, and scaling with clients and workers. Rendering (CSV, SVG, markdown)
/// is the command's job; this type only measures.
public struct ComparisonBenchmark {
    public struct Options: Sendable {
        public var maximumParameters: Int
        public var runs: Int
        public var users: Int
        public var pretrainEpochs: Int
        /// Pretrain on at most this many training samples (nil: all), for quick smoke runs.
        public var pretrainSamples: Int?
        public var fedAvg: FedAvgSettings
        public var thawEpochs: Int
        public var workers: Int
        public var clientCounts: [Int]
        public var scalingRounds: Int
        public var workerCounts: [Int]
        public var speedSpread: Double
        public var dropoutProbability: Double
        public var targetAccuracy: Double?
        public var compute: ComputeProfile
        public var radio: RadioProfile
        /// Thaw's activation encodings to measure: throughput rows for each, and the personalisation's
        /// held-out accuracy with each (float32 is always measured, as the reference).
        public var encodings: [ActivationEncoding] = ActivationEncoding.allCases
        /// Where the data came from, for the report ("the shipped data" or a folder).
        public var dataSource = "the shipped data"

        public init(
            maximumParameters: Int = 25_000_000, runs: Int = 3, users: Int = 48, pretrainEpochs: Int = 1,
            pretrainSamples: Int? = nil,
            fedAvg: FedAvgSettings = FedAvgSettings(rounds: 30, roundDeadline: .seconds(120)), thawEpochs: Int = 20,
            workers: Int = 2, clientCounts: [Int] = [10, 100, 1000, 10_000], scalingRounds: Int = 3,
            workerCounts: [Int] = [1, 2, 4, 8, 16], speedSpread: Double = 0.5, dropoutProbability: Double = 0.1,
            targetAccuracy: Double? = nil, compute: ComputeProfile = .flagship2019, radio: RadioProfile = .lte
        ) {
            self.maximumParameters = maximumParameters
            self.runs = runs
            self.users = users
            self.pretrainEpochs = pretrainEpochs
            self.pretrainSamples = pretrainSamples
            self.fedAvg = fedAvg
            self.thawEpochs = thawEpochs
            self.workers = workers
            self.clientCounts = clientCounts
            self.scalingRounds = scalingRounds
            self.workerCounts = workerCounts
            self.speedSpread = speedSpread
            self.dropoutProbability = dropoutProbability
            self.targetAccuracy = targetAccuracy
            self.compute = compute
            self.radio = radio
        }
    }

    public struct Report: Sendable, Codable {
        public var architecture: String
        public var freezePoint: Int
        public var features: Int
        public var samplesPerUser: Int
        public var fedAvg: FedAvgSettings
        public var compute: ComputeProfile
        public var radios: [RadioProfile]
        public var throughput: [ThroughputExperiment.Row]
        public var personalization: PersonalizationExperiment.Result
        /// Thaw's final heads with each activation encoding, against float32 per writer.
        public var encodings: [PersonalizationExperiment.EncodingResult]
        public var clients: [ScalingExperiment.ClientRow]
        public var workers: [ScalingExperiment.WorkerRow]
        public var pretrainAccuracy: Double
        /// Thaw's per-user head training, in words (epochs, batch, optimiser).
        public var thawTraining: String
        public var dataSource: String
        public var secondsTaken: Double
    }

    public var options: Options

    public init(options: Options) { self.options = options }

    /// `float32,float16,int8` → the encodings, in that order; `nil` when a name is unknown or none is given.
    public static func encodings(named list: String) -> [ActivationEncoding]? {
        let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let encodings = names.compactMap(ActivationEncoding.init(rawValue:))
        guard !encodings.isEmpty, encodings.count == names.count else { return nil }
        return encodings
    }

    /// Runs everything; `progress` receives one line per finished step.
    public func run(dataset: HandwritingDataset, progress: (String) -> Void) -> Report {
        let clock = ContinuousClock()
        let started = clock.now
        let architecture = ModelArchitecture.smallCNN()
        let freeze = FreezePoint(7)
        let features = Tensor.elementCount(architecture.activationShape(at: freeze.index))
        let profile = DeviceProfile(compute: options.compute, radio: options.radio)
        let users = Array(dataset.userIDs.prefix(options.users))
        let splitter = UserSplitter()
        let samplesPerUser =
            users.map { splitter.split(dataset.test, writer: $0).adaptation.count }.reduce(0, +)
            / max(1, users.count)

        // 1. Throughput by head size, under both radios.
        let throughput = ThroughputExperiment(
            features: features, classes: 10, samplesPerUser: samplesPerUser, settings: options.fedAvg,
            runs: options.runs)
        var rows: [ThroughputExperiment.Row] = []
        let radios = options.radio == .wifi ? [options.radio] : [options.radio, .wifi]
        for head in throughput.ladder(maximumParameters: options.maximumParameters) {
            let measured = throughput.measure(
                head, profiles: radios.map { DeviceProfile(compute: options.compute, radio: $0) },
                encodings: options.encodings)
            rows += measured
            for row in measured where row.radio == options.radio.name {
                progress(
                    "throughput: \(head.parameters) parameters, \(row.encoding), Thaw/FedAvg \(String(format: "%.2f", row.throughputRatio))x, energy \(String(format: "%.3f", row.energyRatio))x"
                )
            }
        }

        // 2. Personalisation on the shipped data, from a pretrained base model.
        let base = PretrainJob(
            architecture: architecture, epochs: options.pretrainEpochs, batchSize: 32,
            trainingLimit: options.pretrainSamples
        ).train(
            on: dataset.train
        ).model
        let pretrainAccuracy = AccuracyReport.evaluate(base, on: dataset.test).overall
        progress("pretrained base: test accuracy \(String(format: "%.3f", pretrainAccuracy))")
        let experiment = PersonalizationExperiment(
            configuration: .init(
                freezePoint: freeze, users: users, splitter: splitter, profile: profile, fedAvg: options.fedAvg,
                thawEpochs: options.thawEpochs, workers: options.workers, speedSpread: options.speedSpread,
                dropoutProbability: options.dropoutProbability, targetAccuracy: options.targetAccuracy))
        let prepared = experiment.prepare(base: base, samples: dataset.test)
        let personalization = experiment.run(base: base, users: prepared)
        let encodings = experiment.compareEncodings(base: base, users: prepared, encodings: options.encodings)
        for result in encodings {
            progress(
                "encoding \(result.encoding): mean held-out accuracy \(String(format: "%.4f", result.meanAccuracy)), \(Int(result.uploadBytesPerUser)) B uploaded per user, \(result.writersWorse) writers worse than float32"
            )
        }
        progress(
            "personalisation: target \(String(format: "%.3f", personalization.targetAccuracy)), Thaw \(personalization.thawSecondsToTarget.map { String(format: "%.1f s", $0) } ?? "not reached"), FedAvg \(personalization.fedAvgSecondsToTarget.map { String(format: "%.1f s", $0) } ?? "not reached")"
        )

        // 3. Scaling with clients and workers.
        let scaling = ScalingExperiment(
            settings: options.fedAvg, profile: profile, speedSpread: options.speedSpread,
            dropoutProbability: options.dropoutProbability)
        var clientRows: [ScalingExperiment.ClientRow] = []
        for count in options.clientCounts {
            clientRows += scaling.clientRows(
                counts: [count], rounds: options.scalingRounds, base: base, freezePoint: freeze,
                users: prepared.map {
                    FedAvgFleetSimulation.ClientData(inputs: $0.inputs, labels: $0.labels, seed: UInt64($0.writer))
                },
                thawSecondsPerUser: personalization.thawWorkerSecondsPerUser,
                thawDeviceSeconds: personalization.thawDeviceSeconds,
                thawBytesPerUser: personalization.thawEnergy.bytes,
                workers: options.workers, roundsToTarget: personalization.fedAvgRoundsToTarget)
            progress("scaling: \(count) clients done")
        }
        let workerRows = scaling.workerRows(
            counts: options.workerCounts, users: options.clientCounts.max() ?? 1000,
            thawSecondsPerUser: personalization.thawWorkerSecondsPerUser,
            thawDeviceSeconds: personalization.thawDeviceSeconds)

        return Report(
            architecture: "smallCNN", freezePoint: freeze.index, features: features, samplesPerUser: samplesPerUser,
            fedAvg: options.fedAvg, compute: options.compute, radios: radios, throughput: rows,
            personalization: personalization, encodings: encodings, clients: clientRows, workers: workerRows,
            pretrainAccuracy: pretrainAccuracy,
            thawTraining:
                "\(experiment.configuration.thawEpochs) epochs, B = \(experiment.configuration.thawBatchSize), SGD learning rate \(experiment.configuration.thawLearningRate), momentum \(experiment.configuration.thawMomentum)",
            dataSource: options.dataSource, secondsTaken: (clock.now - started) / .seconds(1))
    }
}
