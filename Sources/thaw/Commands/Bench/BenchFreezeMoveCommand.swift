import ArgumentParser
import Foundation
import ThawBench
import ThawDeviceProfile
import ThawNodes
import ThawTopology

/// `thaw bench freeze-move`: bytes uploaded, device joules and wall time of freeze-point moves, Thaw
/// against dropping the cache and re-extracting everything (docs/FREEZE-MOVES.md).
struct BenchFreezeMoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freeze-move", abstract: "Benchmark freeze-point moves against the drop-and-re-extract policy.")

    @Option(help: "Topology whose phones to simulate (default: the embedded default topology).") var topology: String?
    @Option(help: "Runs per scenario and policy (median times reported).") var runs: Int = 3
    @Option(help: "Checkpoint storage budget per phone, bytes.") var checkpointBudget: Int = 1 << 20
    @Option(help: "Device compute energy, joules per FLOP (default: the phone profile's, docs/DEVICE.md).")
    var joulesPerFlop: Double = DeviceProfile.phoneOnLTE.compute.joulesPerFLOP
    @Option(help: "Write results as JSON to this file.") var output: String = "bench-results/freeze-move.json"

    func validate() throws { guard runs >= 1 else { throw ValidationError("--runs must be >= 1") } }

    func run() throws {
        let loaded = try topology.map { try Topology.load(path: $0) } ?? Topology.embedded()
        // Radio prices from the LTE profile (Huang et al. 2012): the marginal joules of one uploaded byte,
        // and promotion plus tail once per transmitting phone.
        let radio = PhoneSettings().profile.radio
        let prices = FreezeMoveBenchmark.Prices(
            joulesPerFLOP: joulesPerFlop,
            radioJoulesPerByte: radio.transferJoules(bytesUp: 1_000_000, bytesDown: 0) / 1e6,
            radioTailJoules: radio.promotionSeconds * radio.promotionWatts + radio.tailSeconds * radio.tailWatts)
        let bench = FreezeMoveBenchmark(
            topology: loaded, runs: runs, checkpointBudgetBytes: checkpointBudget, prices: prices,
            scratch: NSTemporaryDirectory())
        let (checkpoints, annotated, results) = try bench.run { print($0) }
        struct Report: Encodable {
            var topology: String
            var runs: Int
            var checkpointBudgetBytes: Int
            var checkpointLayers: [Int]
            var annotatedSamples: Int
            var prices: FreezeMoveBenchmark.Prices
            var openblasCoretype: String
            var results: [FreezeMoveBenchmark.Result]
        }
        let report = Report(
            topology: topology ?? "embedded default (Topologies/local.yaml)", runs: runs,
            checkpointBudgetBytes: checkpointBudget, checkpointLayers: checkpoints, annotatedSamples: annotated,
            prices: prices, openblasCoretype: ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "unset",
            results: results)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(report)
        let url = URL(fileURLWithPath: output)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        print("wrote \(output)")
    }
}
