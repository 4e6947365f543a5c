import ArgumentParser
import Foundation
import Logging
import ThawData
import ThawLearning
import ThawNN
import ThawNodes
import ThawSimulation

/// `thaw personalize`: trains a personal head per user on cached backbone activations and reports
/// held-out accuracy before and after.
struct PersonalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "personalize",
        abstract: "Train per-user heads above a freeze point; report held-out accuracy before and after."
    )

    @OptionGroup var options: LearningOptions

    @Option(help: "A model file from `thaw pretrain --output`. Without it a quick general model is trained first.")
    var model: String?
    @Option(help: "Architecture of the quick general model (without --model).") var architecture: ArchitectureChoice = .smallCNN
    @Option(help: "Epochs of the quick general model (without --model).") var pretrainEpochs: Int = 1
    @Option(help: "Personalise this writer id.") var user: UInt16?
    @Flag(help: "Personalise every test writer.") var allUsers = false
    @Option(help: "Freeze point k: layers [0,k) frozen, [k,L) trained.") var freezePoint: Int = 7
    @Option(help: "Head training epochs.") var epochs: Int = 20
    @Option(help: "Head minibatch size.") var batchSize: Int = 16
    @Option(help: "sgd or adam.") var optimizer: String = "sgd"
    @Option(help: "Head learning rate.") var learningRate: Float = 0.01
    @Option(help: "Share of each user's samples used for adaptation (the rest is held out).") var adaptationFraction: Double = 0.5
    @Option(help: "Replace the head with a fresh MLP of this width (needs a flat activation at k, e.g. k=7).") var headWidth: Int?
    @Option(help: "Hidden layers of the new MLP head (with --head-width).") var headDepth: Int = 1
    @Flag(inversion: .prefixedNo, help: "Run every strategy side by side (general, head, local fine-tuning, kNN-Per, L2-SP, replay, each gated); --no-baselines runs only the plain head job.")
    var baselines = true
    @Option(help: "L2-SP strength toward the general head (baselines run).") var l2sp: Float = 0.1
    @Option(help: "Replay samples of training writers per user sample (baselines run).") var replayRatio: Double = 1
    @Option(help: "Share of each user's adaptation samples the phone's gate keeps for validation.") var gateShare: Double = 0.3
    @Option(help: "The gate swaps when the candidate is right on at least this many more validation samples.") var gateMargin: Int = 1
    @Option(help: "z of the gate's likelihood tie-break (swap with no validation sample lost when mean − z·sd/√n of the log-likelihood gains is > 0); a negative value turns it off.")
    var gateConfidence: Double = 1
    @Option(help: "Weight of the trained head in the `interp` candidate: general + w·(trained − general), as workers commit.")
    var interpolation: Float = 0.5
    @Option(help: "Neighbours of the kNN-Per baseline.") var knnK: Int = 5
    @Option(help: "Weight of the kNN distribution in the kNN-Per mixture.") var knnWeight: Double = 0.5
    @Option(help: "Epochs of the local fine-tuning baseline.") var fineTuneEpochs: Int = 5
    @Option(help: "Only the first N writers (ascending id) of --all-users.") var limitUsers: Int?

    func validate() throws {
        guard allUsers != (user != nil) else { throw ValidationError("give exactly one of --user WRITER or --all-users") }
        guard freezePoint >= 0, epochs >= 0, batchSize >= 1, learningRate > 0 else {
            throw ValidationError("--freeze-point and --epochs must be >= 0, --batch-size >= 1, --learning-rate > 0")
        }
        guard ["sgd", "adam"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd or adam") }
        guard adaptationFraction > 0, adaptationFraction < 1 else { throw ValidationError("--adaptation-fraction must be in (0, 1)") }
        if let headWidth, headWidth < 1 || headWidth > 8192 { throw ValidationError("--head-width must be in 1...8192") }
        guard l2sp >= 0, replayRatio >= 0, gateShare >= 0, gateShare < 1, gateMargin >= 1, knnK >= 1,
            (0...1).contains(knnWeight), fineTuneEpochs >= 0, interpolation > 0, interpolation <= 1, gateConfidence.isFinite
        else {
            throw ValidationError("--l2sp, --replay-ratio >= 0; --gate-share in [0, 1); --gate-margin, --knn-k >= 1; --knn-weight in [0, 1]; --interpolation in (0, 1]")
        }
    }

    func run() throws {
        let dataset = try options.prepare()
        let general: Model
        if let model {
            general = try ModelFile.read(from: model)
        } else {
            general = PretrainJob(architecture: architecture.architecture, epochs: pretrainEpochs, batchSize: 64,
                                  learningRate: 0.05, seed: options.seed).run(on: dataset).model
        }
        if baselines, headWidth == nil {
            try runStudy(general: general, dataset: dataset)
            return
        }
        let config: OptimizerConfig = optimizer == "adam"
            ? .adam(learningRate: learningRate, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
            : .sgd(learningRate: learningRate, momentum: 0.9, weightDecay: 0)
        let job = PersonalizeJob(
            freezePoint: FreezePoint(freezePoint), epochs: epochs, batchSize: batchSize, optimizer: config,
            splitter: UserSplitter(adaptationFraction: adaptationFraction, seed: options.seed), seed: options.seed,
            newHead: headWidth.map { (hidden: $0, depth: headDepth) })
        try job.validate(for: general.architecture)
        let results: [PersonalizeJob.Result]
        if let user {
            guard dataset.userIDs.contains(user) else { throw LearningError(.unknownUser, "writer \(user) is not a test writer") }
            results = [job.run(general: general, samples: dataset.test, writer: user)]
        } else {
            results = job.runAll(general: general, samples: dataset.test)
        }
        let improved = results.filter { $0.gain > 0 }.count
        let worse = results.filter { $0.gain < 0 }.count
        if options.json {
            let object: [String: Any] = [
                "freezePoint": freezePoint, "epochs": epochs, "optimizer": optimizer, "learningRate": Double(learningRate),
                "headWidth": headWidth ?? 0, "headDepth": headWidth == nil ? 0 : headDepth,
                "meanBefore": results.meanBefore, "meanAfter": results.meanAfter, "meanGain": results.meanGain,
                "improved": improved, "worse": worse, "users": results.count,
                "perUser": results.map { ["user": Int($0.writer), "adapt": $0.adaptationSamples, "heldOut": $0.evaluationSamples,
                                          "before": $0.before, "after": $0.after] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("user   adapt held-out  before    after     gain")
        for r in results {
            print(pad("\(r.writer)", 6) + " " + pad("\(r.adaptationSamples)", 5) + " " + pad("\(r.evaluationSamples)", 9)
                  + pad(percent(r.before), 9) + " " + pad(percent(r.after), 9) + " " + String(format: "%+.2f pp", r.gain * 100))
        }
        print("mean: before \(percent(results.meanBefore)), after \(percent(results.meanAfter)), gain "
              + String(format: "%+.2f pp", results.meanGain * 100)
              + "; improved \(improved), worse \(worse) of \(results.count) users (k=\(freezePoint))")
    }

    /// Every strategy side by side, per writer, with summaries overall and by writer size.
    func runStudy(general: Model, dataset: HandwritingDataset) throws {
        var configuration = PersonalizationStudy.Configuration(freezePoint: FreezePoint(freezePoint))
        configuration.epochs = epochs
        configuration.batchSize = batchSize
        configuration.learningRate = learningRate
        configuration.l2sp = l2sp
        configuration.replayRatio = replayRatio
        configuration.gate = HeadSwapGate(
            validationShare: gateShare, margin: gateMargin, tieBreakConfidence: gateConfidence < 0 ? nil : gateConfidence)
        configuration.interpolation = interpolation
        configuration.knnK = knnK
        configuration.knnWeight = knnWeight
        configuration.fineTuneEpochs = fineTuneEpochs
        configuration.splitter = UserSplitter(adaptationFraction: adaptationFraction, seed: options.seed)
        configuration.seed = options.seed
        try PersonalizeJob(freezePoint: FreezePoint(freezePoint)).validate(for: general.architecture)
        var writers: [UInt16]
        if let user {
            guard dataset.userIDs.contains(user) else { throw LearningError(.unknownUser, "writer \(user) is not a test writer") }
            writers = [user]
        } else {
            writers = dataset.userIDs
            if let limitUsers { writers = Array(writers.prefix(limitUsers)) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        let results = PersonalizationStudy(configuration: configuration).run(
            general: general, dataset: dataset, writers: writers
        ) { done, total in
            if !options.json, done % 25 == 0 || done == total { FileHandleOutput.standardError("personalised \(done)/\(total)") }
        }
        let seconds = (clock.now - start) / .seconds(1)
        let groups: [(String, [PersonalizationStudy.WriterResult])] = [
            ("all", results), ("<60 samples", results.filter { $0.samples < 60 }),
            (">=60 samples", results.filter { $0.samples >= 60 }),
        ]
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            struct Output: Encodable {
                var freezePoint: Int, epochs: Int, learningRate: Float, l2sp: Float, replayRatio: Double
                var gateShare: Double, gateMargin: Int, gateConfidence: Double, interpolation: Float, knnK: Int, knnWeight: Double, fineTuneEpochs: Int
                var generalTestAccuracy: Double, seconds: Double
                var summaries: [String: [PersonalizationStudy.Summary]]
                var perUser: [PersonalizationStudy.WriterResult]
            }
            let output = Output(
                freezePoint: freezePoint, epochs: epochs, learningRate: learningRate, l2sp: l2sp, replayRatio: replayRatio,
                gateShare: gateShare, gateMargin: gateMargin, gateConfidence: gateConfidence, interpolation: interpolation, knnK: knnK, knnWeight: knnWeight,
                fineTuneEpochs: fineTuneEpochs, generalTestAccuracy: AccuracyReport.evaluate(general, on: dataset.test).overall,
                seconds: seconds,
                summaries: Dictionary(uniqueKeysWithValues: groups.map { ($0.0, PersonalizationStudy.summarize($0.1)) }),
                perUser: results)
            print(String(decoding: try encoder.encode(output), as: UTF8.self))
            return
        }
        if results.count <= 20 {
            print("user   samples valid held-out " + PersonalizationStudy.variants.map { pad($0, 20) }.joined())
            for r in results {
                print(pad("\(r.writer)", 6) + " " + pad("\(r.samples)", 7) + " " + pad("\(r.validation)", 5) + " "
                      + pad("\(r.heldOut)", 9) + PersonalizationStudy.variants.map { pad(percent(r.accuracy[$0] ?? 0), 20) }.joined())
            }
        }
        for (name, group) in groups where !group.isEmpty {
            print("")
            print("\(name): \(group.count) writers (k=\(freezePoint), \(epochs) epochs, L2-SP \(l2sp), replay \(replayRatio), interpolation \(interpolation), gate share \(gateShare) margin \(gateMargin) z \(gateConfidence))")
            print(pad("variant", 22) + pad("mean acc", 10) + pad("mean err", 10) + pad("err cut", 9) + pad("better", 7) + pad("worse", 7) + "swaps (worse)")
            for s in PersonalizationStudy.summarize(group) {
                print(pad(s.variant, 22) + pad(percent(s.meanAccuracy), 10) + pad(percent(s.meanError), 10)
                      + pad(String(format: "%+.1f%%", -s.errorCut * 100), 9) + pad("\(s.improved)", 7) + pad("\(s.worse)", 7)
                      + (s.swaps.map { "\($0) (\(s.falseSwaps ?? 0))" } ?? "-"))
            }
        }
        print(String(format: "%.1f s", seconds))
    }
}

enum FileHandleOutput {
    static func standardError(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
