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
    @Option(help: "Write the trained model to this file (also after every epoch, so a stopped run leaves its last epoch).")
    var output: String?
    @Option(help: "Learning-rate schedule: constant, or cosine (from --learning-rate down to 1% of it over all steps).")
    var schedule: String = "constant"
    @Option(help: "L2 weight decay (coupled, PyTorch SGD rule).") var weightDecay: Float = 0
    @Option(help: "Random shift augmentation: move each training image by up to this many pixels (0: none).")
    var shift: Int = 0
    @Option(help: "Start from raw little-endian Float32 parameters (every parameter of the architecture) instead of a fresh initialisation; with --epochs 0 this evaluates them and writes a model file.")
    var fromParameters: String?
    @Flag(help: "Measure test accuracy after every epoch (costs one inference pass over the test set per epoch).")
    var evaluateEachEpoch = false

    func validate() throws {
        guard epochs >= 0, batchSize >= 1, learningRate > 0 else {
            throw ValidationError("--epochs must be >= 0, --batch-size >= 1, --learning-rate > 0")
        }
        guard ["constant", "cosine"].contains(schedule) else { throw ValidationError("--schedule must be constant or cosine") }
        guard weightDecay >= 0, (0...8).contains(shift) else { throw ValidationError("--weight-decay must be >= 0, --shift in 0...8") }
    }

    func run() throws {
        let dataset = try options.prepare()
        var logger = Logger(label: "thaw.pretrain")
        logger.logLevel = options.json ? .warning : .info
        var job = PretrainJob(architecture: architecture.architecture, epochs: epochs, batchSize: batchSize,
                              learningRate: learningRate, seed: options.seed, trainingLimit: limit,
                              schedule: schedule == "cosine" ? .cosine(floor: 0.01) : .constant,
                              weightDecay: weightDecay, shift: shift)
        if let fromParameters {
            let data = try Data(contentsOf: URL(fileURLWithPath: fromParameters))
            let expected = Model(architecture: architecture.architecture, seed: 0).parameters.count
            guard data.count == expected * 4 else {
                throw ValidationError("\(fromParameters): \(data.count) bytes, expected \(expected * 4) for \(architecture.rawValue)")
            }
            job.initialParameters = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        }
        let clock = ContinuousClock()
        let start = clock.now
        var perEpoch: [[String: Double]] = []
        var checkpointError: Error?
        let result = job.run(on: dataset, logger: logger) { epoch, loss, model in
            var row: [String: Double] = ["epoch": Double(epoch + 1), "loss": Double(loss),
                                         "seconds": (clock.now - start) / .seconds(1)]
            if evaluateEachEpoch, epoch + 1 < epochs {
                let test = AccuracyReport.evaluate(model, on: dataset.test)
                row["testAccuracy"] = test.overall
                logger.info("epoch test accuracy", metadata: ["epoch": "\(epoch + 1)", "accuracy": "\(percent(test.overall))"])
            }
            perEpoch.append(row)
            if let output, epoch + 1 < epochs {
                do { try ModelFile.write(model, to: output) } catch { checkpointError = error }
            }
        }
        let seconds = (clock.now - start) / .seconds(1)
        if let checkpointError { throw checkpointError }
        if let output { try ModelFile.write(result.model, to: output) }
        let users = result.test.perUser.sorted { $0.key < $1.key }
        if options.json {
            let object: [String: Any] = [
                "architecture": architecture.rawValue, "epochs": epochs, "trainingSamples": result.trainingSamples,
                "testSamples": result.test.sampleCount, "testAccuracy": result.test.overall,
                "epochLosses": result.epochLosses.map(Double.init), "seconds": seconds, "perEpoch": perEpoch,
                "schedule": schedule, "weightDecay": Double(weightDecay), "shift": shift,
                "learningRate": Double(learningRate), "batchSize": batchSize,
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
