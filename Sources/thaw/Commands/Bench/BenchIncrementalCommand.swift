import ArgumentParser
import Foundation
import ThawBench

/// `thaw bench incremental`: held-out accuracy of the workers' incremental rounds (new rows plus a
/// bounded replay) against full retraining on every stored row, per writer (docs/LEARNING.md).
struct BenchIncrementalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incremental",
        abstract: "Held-out accuracy: incremental head training (new rows + replay) vs full retraining.")

    @Option(help: "Writers (held-out users) to personalise.") var writers: Int = 24
    @Option(help: "Samples per arriving batch.") var batchSize: Int = 8
    @Option(help: "Epochs per round.") var epochs: Int = 2
    @Option(help: "Freeze point.") var freezePoint: Int = 7
    @Option(help: "Replayed older rows per new row.") var replayFraction: Double = 0.5
    @Option(help: "Training images the base model is pretrained on (1 epoch); fewer: a weaker base.")
    var pretrainSamples: Int = 20_000
    @Option(help: "Write results as JSON to this file.") var output: String = "bench-results/incremental.json"

    func run() throws {
        var settings = IncrementalAccuracy.Settings()
        settings.writers = writers
        settings.batchSize = batchSize
        settings.epochs = epochs
        settings.freezePoint = freezePoint
        settings.replayFraction = replayFraction
        settings.pretrainSamples = pretrainSamples
        let results = try IncrementalAccuracy(settings: settings) { print("[bench incremental] \($0)") }.run()
        print(
            String(
                format: "\n%d writers, %.1f adaptation samples each in batches of %d, %d epochs per round, k = %d; "
                    + "base model (no head training): %.3f",
                results.writers.count, results.meanAdaptationSamples, results.batchSize, results.epochs,
                results.freezePoint, results.baseAccuracy))
        print("strategy                      held-out accuracy  sample passes  passes in the last round")
        for row in results.strategies {
            print(
                String(
                    format: "%-28@  %17.3f  %13d  %24.1f", row.name as NSString, row.accuracy, row.samplePasses,
                    row.lastRoundPasses))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(results).write(to: url)
        print("wrote \(output)")
    }
}
