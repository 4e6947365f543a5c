import ArgumentParser
import Foundation
import ThawBench
import ThawData
import ThawDeviceProfile
import ThawNN
import ThawNodes

/// `thaw bench compare`: Thaw against FedAvg on throughput, device energy, time to a target accuracy and
/// scaling; writes JSON and CSV under `--output`, SVG plots, and regenerates docs/EVALUATION.md.
///
/// The default run takes a few minutes on two cores (release build); `--max-parameters`, `--clients`,
/// `--rounds` and `--users` make bigger runs.
struct BenchCompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare", abstract: "Compare Thaw with FedAvg: throughput, device energy, accuracy, scaling.")

    @Option(help: "Directory for JSON, CSV and SVG results.") var output: String = "bench-results/compare"
    @Option(help: "Markdown report to regenerate.") var report: String = "docs/EVALUATION.md"
    @Option(help: "Largest head (parameters) in the throughput sweep.") var maxParameters: Int = 25_000_000
    @Option(help: "Timed runs per head size (median reported).") var runs: Int = 3
    @Option(help: "Test writers to personalise (the shipped data has 48).") var users: Int = 48
    @Option(help: "FedAvg rounds in the personalisation experiment.") var rounds: Int = 30
    @Option(help: "FedAvg client fraction C.") var clientFraction: Double = 0.1
    @Option(help: "FedAvg local epochs E.") var localEpochs: Int = 5
    @Option(help: "FedAvg local batch size B.") var batchSize: Int = 10
    @Option(help: "FedAvg client learning rate.") var learningRate: Float = 0.05
    @Option(help: "FedAvg round deadline in seconds (simulated).") var deadline: Int = 120
    @Option(help: "FedAvg closes a round once this fraction of the selected phones reported (1: wait for all).")
    var reportFraction: Double = 0.8
    @Option(help: "Thaw epochs per user head.") var thawEpochs: Int = 20
    @Option(help: "Thaw workers (their measured time is divided among them).") var workers: Int = 2
    @Option(help: "Client counts for the scaling sweep, comma-separated.") var clients: String = "10,100,1000,10000"
    @Option(
        help:
            "Thaw's client-scaling curve measured on running processes (JSON of thaw bench system --fleet --fleet-scaling); when the file exists it replaces the computed Thaw figures."
    )
    var measuredScaling: String = "bench-results/fleet-scaling.json"
    @Option(help: "FedAvg rounds per client count in the scaling sweep.") var scalingRounds: Int = 3
    @Option(help: "Spread σ of phone speeds (speed × exp(σ·N(0,1))).") var speedSpread: Double = 0.5
    @Option(help: "Probability a selected phone drops out.") var dropout: Double = 0.1
    @Option(help: "Target mean held-out accuracy (default: the best both systems reach).") var target: Double?
    @Option(help: "Pretrain the base model on at most this many samples (default: all).") var pretrainSamples: Int?
    @Option(help: "Phone CPU sustained GFLOP/s.") var deviceGflops: Double =
        ComputeProfile.flagship2019.flopsPerSecond / 1e9
    @Option(help: "Phone CPU power under load, watts.") var deviceWatts: Double = ComputeProfile.flagship2019
        .activeWatts
    @Option(help: "Radio for the main results: lte or wifi.") var radio: String = "lte"
    @Option(help: "A data folder laid out like MNIST with writer ids (default: the shipped subset).")
    var data: String?
    @Option(help: "Thaw activation encodings to measure, comma-separated (float32 is the reference).")
    var encodings: String = "float32,float16,int8"

    func validate() throws {
        guard runs >= 1, users >= 1, rounds >= 1, thawEpochs >= 1, workers >= 1, scalingRounds >= 1 else {
            throw ValidationError(
                "--runs, --users, --rounds, --thaw-epochs, --workers and --scaling-rounds must be >= 1")
        }
        guard RadioProfile.named(radio) != nil else { throw ValidationError("--radio must be lte or wifi") }
        guard ComparisonBenchmark.encodings(named: encodings) != nil else {
            throw ValidationError("--encodings takes float32, float16 and/or int8, comma-separated")
        }
        guard !clientCounts.isEmpty, clientCounts.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--clients must list positive counts, e.g. 10,100,1000")
        }
        guard deviceGflops > 0, deviceWatts > 0 else {
            throw ValidationError("--device-gflops and --device-watts must be positive")
        }
        if let problem = settings.problem { throw ValidationError(problem) }
    }

    var clientCounts: [Int] {
        clients.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    }

    var settings: FedAvgSettings {
        FedAvgSettings(
            clientFraction: clientFraction, localEpochs: localEpochs, batchSize: batchSize, learningRate: learningRate,
            rounds: rounds, roundDeadline: .seconds(deadline), seed: 1, reportFraction: reportFraction)
    }

    func run() throws {
        BLAS.setThreadCount(1)
        let dataset = try data.map { try HandwritingDataset.load(directory: URL(fileURLWithPath: $0)) }
            ?? HandwritingDataset.shipped()
        var options = ComparisonBenchmark.Options(
            maximumParameters: maxParameters, runs: runs, users: users, pretrainSamples: pretrainSamples,
            fedAvg: settings, thawEpochs: thawEpochs,
            workers: workers, clientCounts: clientCounts, scalingRounds: scalingRounds, speedSpread: speedSpread,
            dropoutProbability: dropout, targetAccuracy: target,
            compute: ComputeProfile(name: "phone-cpu", flopsPerSecond: deviceGflops * 1e9, activeWatts: deviceWatts),
            radio: RadioProfile.named(radio) ?? .lte)
        options.encodings = ComparisonBenchmark.encodings(named: encodings) ?? options.encodings
        if let data { options.dataSource = "the data in \(data)" }
        let result = ComparisonBenchmark(options: options).run(dataset: dataset) { print($0) }
        let command =
            "swift build -c release --product thaw && .build/release/thaw bench compare "
            + CommandLine.arguments.dropFirst(3).joined(separator: " ")
        var writer = CompareReportWriter(report: result, directory: output, command: command)
        if FileManager.default.fileExists(atPath: measuredScaling) {
            let data = try Data(contentsOf: URL(fileURLWithPath: measuredScaling))
            let results = try JSONDecoder().decode(FleetScalingBenchmark.Results.self, from: data)
            writer.measured = (results, measuredScaling)
        }
        try writer.writeAll(markdownPath: report)
        print(
            "wrote \(output)/compare.json, CSV, SVG and \(report) in \(String(format: "%.0f", result.secondsTaken)) s")
    }
}
