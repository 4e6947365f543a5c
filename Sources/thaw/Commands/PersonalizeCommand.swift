import ArgumentParser
import Foundation
import Logging
import ThawData
import ThawLearning
import ThawNN

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

    func validate() throws {
        guard allUsers != (user != nil) else { throw ValidationError("give exactly one of --user WRITER or --all-users") }
        guard freezePoint >= 0, epochs >= 0, batchSize >= 1, learningRate > 0 else {
            throw ValidationError("--freeze-point and --epochs must be >= 0, --batch-size >= 1, --learning-rate > 0")
        }
        guard ["sgd", "adam"].contains(optimizer) else { throw ValidationError("--optimizer must be sgd or adam") }
        guard adaptationFraction > 0, adaptationFraction < 1 else { throw ValidationError("--adaptation-fraction must be in (0, 1)") }
        if let headWidth, headWidth < 1 || headWidth > 8192 { throw ValidationError("--head-width must be in 1...8192") }
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
}
