import ArgumentParser
import Foundation
import Logging
import ThawData
import ThawLearning
import ThawNN

/// `thaw pretrain`: trains the general model on the training writers and reports its accuracy on
/// every test writer (the users).
struct PretrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pretrain",
        abstract: "Train the general model on the training writers; report test accuracy overall and per user."
    )

    @OptionGroup var options: LearningOptions

    @Option(help: "Training epochs.") var epochs: Int = 2
    @Option(help: "Minibatch size.") var batchSize: Int = 64
    @Option(help: "SGD learning rate (momentum 0.9).") var learningRate: Float = 0.05
    @Option(help: "fedavg-cnn or small-cnn.") var architecture: ArchitectureChoice = .fedavgCNN
    @Option(help: "Train on at most this many training samples (seeded subset).") var limit: Int?
    @Option(help: "Write the trained model to this file.") var output: String?

    func validate() throws {
        guard epochs >= 0, batchSize >= 1, learningRate > 0 else {
            throw ValidationError("--epochs must be >= 0, --batch-size >= 1, --learning-rate > 0")
        }
    }

    func run() throws {
        let dataset = try options.prepare()
        var logger = Logger(label: "thaw.pretrain")
        logger.logLevel = options.json ? .warning : .info
        let job = PretrainJob(architecture: architecture.architecture, epochs: epochs, batchSize: batchSize,
                              learningRate: learningRate, seed: options.seed, trainingLimit: limit)
        let clock = ContinuousClock()
        let start = clock.now
        let result = job.run(on: dataset, logger: logger)
        let seconds = (clock.now - start) / .seconds(1)
        if let output { try ModelFile.write(result.model, to: output) }
        let users = result.test.perUser.sorted { $0.key < $1.key }
        if options.json {
            let object: [String: Any] = [
                "architecture": architecture.rawValue, "epochs": epochs, "trainingSamples": result.trainingSamples,
                "testSamples": result.test.sampleCount, "testAccuracy": result.test.overall,
                "epochLosses": result.epochLosses.map(Double.init), "seconds": seconds,
                "perUser": users.map { ["user": Int($0.key), "accuracy": $0.value] },
            ]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print("trained \(architecture.rawValue) on \(result.trainingSamples) samples, \(epochs) epochs in \(String(format: "%.1f", seconds)) s")
        print("population test accuracy: \(percent(result.test.overall)) on \(result.test.sampleCount) samples of \(users.count) users")
        print("user   accuracy")
        for (user, accuracy) in users { print(pad("\(user)", 6) + " " + percent(accuracy)) }
        if let output { print("model written to \(output)") }
    }
}

func percent(_ value: Double) -> String { String(format: "%.2f%%", value * 100) }

/// Left-aligns `text` in a column of `width` characters.
func pad(_ text: String, _ width: Int) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
