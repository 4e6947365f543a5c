import ArgumentParser
import Foundation
import ThawData
import ThawLearning
import ThawNN
import ThawSimulation
import ThawWire

/// `thaw bench noise`: the accuracy cost of activation noise (per encoding, per sigma) on held-out
/// writers, and a ridge reconstruction attack on the uploads with and without it (docs/PRIVACY.md).
/// Writes JSON and a Markdown table under `--output` and an SVG plot at `--plot`.
struct BenchNoiseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "noise",
        abstract: "Accuracy cost of activation noise and a reconstruction attack with and without it.")

    @Option(help: "Directory for noise.json and noise.md.") var output: String = "bench-results/noise"
    @Option(help: "SVG plot to write.") var plot: String = "docs/privacy-noise.svg"
    @Option(help: "A data folder laid out like MNIST with writer ids (default: the shipped subset).") var data: String?
    @Option(help: "A model file from `thaw pretrain --output` (default: pretrain smallCNN here).") var model: String?
    @Option(help: "Architecture to pretrain when no --model is given (`thaw up` deploys fedavg-cnn).")
    var architecture: ArchitectureChoice = .fedavgCNN
    @Option(help: "Pretraining epochs when no --model is given.") var pretrainEpochs: Int = 1
    @Option(help: "Pretrain on at most this many training samples (default: all).") var pretrainSamples: Int?
    @Option(help: "Freeze point k.") var freezePoint: Int = 7
    @Option(help: "Personalise only the first N test writers (ascending id; default: all).") var users: Int?
    @Option(help: "Noise scales sigma, comma-separated (0 = clipping only).")
    var sigmas: String = "0,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1,2"
    @Option(help: "Activation encodings, comma-separated (float32 is always measured).") var encodings: String = "float32,int8"
    @Option(help: "Clip bound C (default: the --clip-quantile of public activation norms).") var clip: Double?
    @Option(help: "Quantile of per-row L2 norms of the public activations used as C without --clip.")
    var clipQuantile: Double = 0.9
    @Option(help: "Head training epochs per writer.") var epochs: Int = 20
    @Option(help: "Public training-writer samples the attacker fits its decoder on.") var publicSamples: Int = 10_000
    @Option(help: "Uploaded rows attacked (also the re-identification pool).") var attackSamples: Int = 2_000
    @Option(help: "Decoder ridge without noise, relative to the mean diagonal of the public Gram matrix.")
    var ridge: Double = 1e-3

    var sigmaValues: [Double]? {
        let values = sigmas.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else { return nil }
        return values.compactMap { $0 }
    }

    var encodingValues: [ActivationEncoding]? {
        let names = encodings.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let values = names.compactMap(ActivationEncoding.init(rawValue:))
        return values.isEmpty || values.count != names.count ? nil : values
    }

    func validate() throws {
        guard let sigmaValues, sigmaValues.allSatisfy({ ActivationNoise.sigmaRange.contains($0) }) else {
            throw ValidationError("--sigmas takes numbers in \(ActivationNoise.sigmaRange), comma-separated")
        }
        guard encodingValues != nil else { throw ValidationError("--encodings takes float32, float16 and/or int8") }
        if let clip, !ActivationNoise.clipRange.contains(clip) {
            throw ValidationError("--clip must be in \(ActivationNoise.clipRange)")
        }
        guard clipQuantile > 0, clipQuantile <= 1 else { throw ValidationError("--clip-quantile must be in (0, 1]") }
        guard freezePoint >= 1, epochs >= 1, publicSamples >= 10, attackSamples >= 2, ridge > 0, pretrainEpochs >= 1 else {
            throw ValidationError(
                "--freeze-point, --epochs, --pretrain-epochs >= 1; --public-samples >= 10; --attack-samples >= 2; --ridge > 0")
        }
        if let users, users < 1 { throw ValidationError("--users must be >= 1") }
    }

    func run() throws {
        BLAS.setThreadCount(1)
        let dataset = try data.map { try HandwritingDataset.load(directory: URL(fileURLWithPath: $0)) }
            ?? HandwritingDataset.shipped()
        let base: Model
        if let model {
            base = try ModelFile.read(from: model)
        } else {
            base = PretrainJob(
                architecture: architecture.architecture, epochs: pretrainEpochs, batchSize: 32, trainingLimit: pretrainSamples
            ).train(on: dataset.train).model
        }
        try PersonalizeJob(freezePoint: FreezePoint(freezePoint)).validate(for: base.architecture)
        var writers = dataset.userIDs
        if let users { writers = Array(writers.prefix(users)) }
        var configuration = ActivationNoiseStudy.Configuration(writers: writers)
        configuration.freezePoint = FreezePoint(freezePoint)
        configuration.sigmas = sigmaValues ?? configuration.sigmas
        configuration.encodings = encodingValues ?? configuration.encodings
        configuration.clip = clip
        configuration.clipQuantile = clipQuantile
        configuration.epochs = epochs
        configuration.publicSamples = publicSamples
        configuration.attackSamples = attackSamples
        configuration.relativeRidge = ridge
        let report = ActivationNoiseStudy(configuration: configuration).run(base: base, dataset: dataset) {
            FileHandleOutput.standardError($0)
        }
        let command =
            "swift build -c release --product thaw && .build/release/thaw bench noise "
            + CommandLine.arguments.dropFirst(3).joined(separator: " ")
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: "\(output)/noise.json"))
        let markdown = Self.markdown(report, command: command, data: data ?? "the shipped subset")
        try markdown.write(toFile: "\(output)/noise.md", atomically: true, encoding: .utf8)
        try Self.svg(report).write(toFile: plot, atomically: true, encoding: .utf8)
        print(markdown)
        print("wrote \(output)/noise.json, \(output)/noise.md and \(plot) in \(String(format: "%.0f", report.seconds)) s")
    }

    static func sigmaText(_ sigma: Double?) -> String { sigma.map { "\($0)" } ?? "off" }

    static func markdown(_ r: ActivationNoiseStudy.Report, command: String, data: String) -> String {
        let f3 = { (v: Double) in String(format: "%.3f", v) }
        let f4 = { (v: Double) in String(format: "%.4f", v) }
        var text = """
            Measured with `\(command)` on \(data): \(r.writers.count) held-out writers, freeze point \(r.freezePoint) \
            (\(r.activationValues) values per row), clip C = \(f3(r.clip))\(r.clipQuantile.map { " (the \(Int($0 * 100)) % quantile of public row norms)" } ?? ""); \
            public row norms at 10/50/90/99 %: \(r.normQuantiles.map(f3).joined(separator: " / ")). Base head (no personalisation): \
            mean per-writer accuracy \(f4(r.baseAccuracy)). Noise standard deviation per value = sigma·C. \(String(format: "%.0f", r.seconds)) s.

            | encoding | sigma | noise sd per value | mean per-writer accuracy, trained head | Δ vs clean float32 (points) | writers worse / better | largest drop (points) | half-way head (w = 0.5, the workers' default) |
            |---|---:|---:|---:|---:|---:|---:|---:|

            """
        let reference = r.accuracy.first?.meanAccuracy ?? 0
        for row in r.accuracy {
            text +=
                "| \(row.encoding) | \(sigmaText(row.sigma)) | \(row.sigma.map { f4($0 * r.clip) } ?? "–") | \(f4(row.meanAccuracy)) | "
                + "\(String(format: "%+.2f", (row.meanAccuracy - reference) * 100)) | \(row.writersWorse) / \(row.writersBetter) of \(row.perWriter.count) | "
                + "\(String(format: "%.2f", row.largestDrop * 100)) | \(f4(row.meanAccuracyInterpolated)) |\n"
        }
        text += """

            Reconstruction attack (float32 uploads): ridge decoder fitted on \(r.publicSamples) public training-writer images, \
            knowing C and sigma; \(r.attackedSamples) uploaded rows of the held-out writers attacked. Reference points: \
            the mean public image has MSE \(f4(r.meanImageMSE)) (PSNR \(String(format: "%.1f", 10 * log10(1 / r.meanImageMSE))) dB); \
            chance re-identification \(String(format: "%.2f", r.chanceReidentification * 100)) %; the base model reads \
            \(String(format: "%.1f", r.digitAccuracyOnOriginals * 100)) % of the original images right.

            | sigma | MSE per pixel | PSNR (dB) | re-identified (nearest of \(r.attackedSamples)) | digits read from reconstructions |
            |---:|---:|---:|---:|---:|

            """
        for row in r.attack {
            text +=
                "| \(sigmaText(row.sigma)) | \(f4(row.mse)) | \(String(format: "%.1f", row.psnr)) | "
                + "\(String(format: "%.1f", row.reidentification * 100)) % | \(String(format: "%.1f", row.digitAccuracy * 100)) % |\n"
        }
        return text
    }

    /// Accuracy per encoding and the attack's success against sigma (log axis: sigma > 0 only).
    static func svg(_ r: ActivationNoiseStudy.Report) -> String {
        let colors = ["#1f77b4", "#2ca02c", "#9467bd"]
        var series: [SVGPlot.Series] = []
        let encodings = r.accuracy.reduce(into: [String]()) { if !$0.contains($1.encoding) { $0.append($1.encoding) } }
        for (index, encoding) in encodings.enumerated() {
            series.append(
                .init(
                    name: "accuracy, \(encoding)", color: colors[index % colors.count],
                    points: r.accuracy.filter { $0.encoding == encoding }.compactMap { row in
                        row.sigma.flatMap { $0 > 0 ? (x: $0, y: row.meanAccuracy) : nil }
                    }))
        }
        series.append(
            .init(
                name: "half-way head, float32", color: "#17becf",
                points: r.accuracy.filter { $0.encoding == "float32" }.compactMap { row in
                    row.sigma.flatMap { $0 > 0 ? (x: $0, y: row.meanAccuracyInterpolated) : nil }
                }))
        let sigmas = r.attack.compactMap(\.sigma).filter { $0 > 0 }
        series.append(.init(name: "base head", color: "#7f7f7f", points: sigmas.map { (x: $0, y: r.baseAccuracy) }))
        series.append(
            .init(
                name: "re-identified", color: "#d62728",
                points: r.attack.compactMap { row in row.sigma.flatMap { $0 > 0 ? (x: $0, y: row.reidentification) : nil } }))
        series.append(
            .init(
                name: "digits read", color: "#ff7f0e",
                points: r.attack.compactMap { row in row.sigma.flatMap { $0 > 0 ? (x: $0, y: row.digitAccuracy) : nil } }))
        return SVGPlot(
            title: "Activation noise: held-out accuracy vs attack (C = \(String(format: "%.2f", r.clip)))",
            xLabel: "sigma (noise sd = sigma·C)", yLabel: "share", logX: true, series: series
        ).render()
    }
}
