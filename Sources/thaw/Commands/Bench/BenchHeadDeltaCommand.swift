import ArgumentParser
import Foundation
import ThawBench

/// `thaw bench head-delta`: bytes per head swap, full head against XOR-deflate delta, on the heads of a
/// registry database a real run left behind (docs/EVALUATION.md, "Head downloads").
struct BenchHeadDeltaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "head-delta",
        abstract: "Measure head-delta sizes against full heads on the heads stored in a registry database.")

    @Option(help: "The registry database (a SQLite file or a postgres:// URL), e.g. thaw-out/registry.sqlite.")
    var database: String
    @Option(help: "The run's head-interpolation α (to reconstruct the trained heads).") var interpolation: Float = 0.5
    @Option(help: "Write results as JSON to this file.") var output: String = "bench-results/head-delta.json"

    func validate() throws {
        guard interpolation > 0, interpolation <= 1 else { throw ValidationError("--interpolation must be in (0, 1]") }
    }

    func run() throws {
        var summary = try HeadDeltaMeasurement.run(database: database, interpolation: interpolation) { print($0) }
        print(
            String(
                format:
                    "%d head swaps over %d users, parameters %@: full %d B; delta from the previous head %d B (median ratio %.3f), from two back %d B (%.3f); without interpolation %d B (%.3f); median encode %.1f ms",
                summary.pairs, summary.users, "\(summary.parameters)", summary.fullBytesTotal,
                summary.deltaFromParentBytesTotal, summary.medianParentRatio, summary.deltaFromGrandparentBytesTotal,
                summary.medianGrandparentRatio, summary.deltaUninterpolatedBytesTotal, summary.medianUninterpolatedRatio,
                summary.medianEncodeMs))
        if summary.pairsDetail.count > 200 { summary.pairsDetail = Array(summary.pairsDetail.prefix(200)) }
        let url = URL(fileURLWithPath: output)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(summary).write(to: url)
        print("wrote \(output)")
    }
}
