import Foundation
import ThawBench
import ThawDeviceProfile
import ThawNodes
import ThawSimulation

/// Writes a ``ComparisonBenchmark/Report`` as JSON, CSV, SVG plots and the markdown of docs/EVALUATION.md.
/// Every number in the markdown is read from the report; the prose around it states no measured value.
struct CompareReportWriter {
    let report: ComparisonBenchmark.Report
    let directory: String
    let command: String
    /// Thaw's client-scaling curve measured on running processes (`thaw bench system --fleet
    /// --fleet-scaling`) and the file it came from; when present it replaces the computed Thaw figures
    /// (K users × a measured per-user time ÷ workers) in the scaling section, its plot and "Where FedAvg wins".
    var measured: (results: FleetScalingBenchmark.Results, path: String)? = nil

    func writeAll(markdownPath: String) throws {
        let folder = URL(fileURLWithPath: directory)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: folder.appendingPathComponent("compare.json"))
        try write(throughputCSV, "throughput.csv")
        try write(curvesCSV, "personalization-curves.csv")
        try write(clientsCSV, "scaling-clients.csv")
        try write(workersCSV, "scaling-workers.csv")
        for (name, plot) in plots { try write(plot.render(), name) }
        let markdown = URL(fileURLWithPath: markdownPath)
        try FileManager.default.createDirectory(
            at: markdown.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(self.markdown(relativeTo: markdown).utf8).write(to: markdown)
    }

    private func write(_ text: String, _ name: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: directory).appendingPathComponent(name))
    }

    // MARK: - CSV

    var throughputCSV: String {
        var lines = [
            "radio,encoding,parameters,hidden,depth,worker_steps_per_s,device_steps_per_s,flops_per_step,thaw_s_per_round,"
                + "fedavg_s_per_round,thaw_samples_per_s,fedavg_samples_per_s,thaw_steps_per_s,fedavg_steps_per_s,"
                + "throughput_ratio_thaw_over_fedavg,thaw_device_j,fedavg_device_j,thaw_compute_j,thaw_transfer_j,"
                + "thaw_tail_j,fedavg_compute_j,fedavg_transfer_j,fedavg_tail_j,thaw_radio_bytes,fedavg_radio_bytes,"
                + "energy_ratio_thaw_over_fedavg,thaw_head_download,thaw_head_download_bytes,full_head_reply_bytes"
        ]
        for r in report.throughput {
            let values: [Any] = [
                r.radio, r.encoding, r.parameters, r.hidden, r.depth, r.workerStepsPerSecond, r.deviceStepsPerSecond,
                r.flopsPerStep,
                r.thawSecondsPerRound, r.fedAvgSecondsPerRound, r.thawSamplesPerSecond, r.fedAvgSamplesPerSecond,
                r.thawStepsPerSecond, r.fedAvgStepsPerSecond, r.throughputRatio, r.thawDeviceJoules,
                r.fedAvgDeviceJoules, r.thawComputeJoules, r.thawTransferJoules, r.thawTailJoules,
                r.fedAvgComputeJoules, r.fedAvgTransferJoules, r.fedAvgTailJoules, r.thawRadioBytes,
                r.fedAvgRadioBytes, r.energyRatio, r.thawHeadDownload, r.thawHeadDownloadBytes, r.fullHeadReplyBytes,
            ]
            lines.append(values.map { "\($0)" }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var curvesCSV: String {
        var lines = ["system,step,seconds,mean_accuracy,joules_per_user"]
        let p = report.personalization
        for c in p.thawCurve { lines.append("thaw,\(c.step),\(c.seconds),\(c.accuracy),\(c.joulesPerUser)") }
        for c in p.fedAvgCurve { lines.append("fedavg,\(c.step),\(c.seconds),\(c.accuracy),\(c.joulesPerUser)") }
        return lines.joined(separator: "\n") + "\n"
    }

    var clientsCSV: String {
        var lines = [
            "clients,selected_per_round,rounds,fedavg_s_per_round,fedavg_stragglers_per_round,fedavg_radio_bytes_per_round,"
                + "fedavg_joules_per_round,fedavg_server_s_per_round,fedavg_s_to_target,thaw_s_one_worker,thaw_s_all_workers,"
                + "workers,thaw_radio_bytes_per_user"
        ]
        for r in report.clients {
            lines.append(
                "\(r.clients),\(r.selectedPerRound),\(r.rounds),\(r.fedAvgSecondsPerRound),\(r.fedAvgStragglersPerRound),"
                    + "\(r.fedAvgRadioBytesPerRound),\(r.fedAvgJoulesPerRound),\(r.fedAvgServerSecondsPerRound),"
                    + "\(r.fedAvgSecondsToTarget.map { "\($0)" } ?? ""),\(r.thawSecondsOneWorker),\(r.thawSecondsAllWorkers),"
                    + "\(r.workers),\(r.thawRadioBytesPerUser)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    var workersCSV: String {
        (["workers,users,thaw_seconds,users_per_hour"]
            + report.workers.map { "\($0.workers),\($0.users),\($0.thawSeconds),\($0.usersPerHour)" })
            .joined(separator: "\n") + "\n"
    }

    // MARK: - Plots

    var mainRadio: String { report.radios.first?.name ?? "lte" }
    /// The main radio's rows with float32 activations (the reference encoding).
    var mainRows: [ThroughputExperiment.Row] { rows(radio: mainRadio, encoding: "float32") }

    func rows(radio: String, encoding: String) -> [ThroughputExperiment.Row] {
        report.throughput.filter { $0.radio == radio && $0.encoding == encoding }
    }

    /// Encodings with throughput rows, in measurement order.
    var encodingNames: [String] {
        var names: [String] = []
        for row in report.throughput where !names.contains(row.encoding) { names.append(row.encoding) }
        return names
    }

    var plots: [(String, SVGPlot)] {
        let p = report.personalization
        return [
            (
                "throughput.svg",
                SVGPlot(
                    title: "Training throughput per user round (\(mainRadio))", xLabel: "head parameters",
                    yLabel: "samples/s", logX: true, logY: true,
                    series: [
                        .init(
                            name: "Thaw", color: "#1f77b4",
                            points: mainRows.map { (x: Double($0.parameters), y: $0.thawSamplesPerSecond) }),
                        .init(
                            name: "Thaw int8", color: "#2ca02c",
                            points: rows(radio: mainRadio, encoding: "int8").map {
                                (x: Double($0.parameters), y: $0.thawSamplesPerSecond)
                            }),
                        .init(
                            name: "FedAvg", color: "#d62728",
                            points: mainRows.map { (x: Double($0.parameters), y: $0.fedAvgSamplesPerSecond) }),
                    ].filter { !$0.points.isEmpty })
            ),
            (
                "energy.svg",
                SVGPlot(
                    title: "Device energy per user round (\(mainRadio))", xLabel: "head parameters", yLabel: "joules",
                    logX: true, logY: true,
                    series: [
                        .init(
                            name: "Thaw", color: "#1f77b4",
                            points: mainRows.map { (x: Double($0.parameters), y: $0.thawDeviceJoules) }),
                        .init(
                            name: "Thaw int8", color: "#2ca02c",
                            points: rows(radio: mainRadio, encoding: "int8").map {
                                (x: Double($0.parameters), y: $0.thawDeviceJoules)
                            }),
                        .init(
                            name: "FedAvg", color: "#d62728",
                            points: mainRows.map { (x: Double($0.parameters), y: $0.fedAvgDeviceJoules) }),
                    ].filter { !$0.points.isEmpty })
            ),
            (
                "accuracy.svg",
                SVGPlot(
                    title: "Mean held-out accuracy per user", xLabel: "simulated seconds", yLabel: "accuracy",
                    series: [
                        .init(
                            name: "Thaw", color: "#1f77b4", points: p.thawCurve.map { (x: $0.seconds, y: $0.accuracy) }),
                        .init(
                            name: "FedAvg", color: "#d62728",
                            points: p.fedAvgCurve.map { (x: $0.seconds, y: $0.accuracy) }),
                    ])
            ),
            (
                "scaling-clients.svg",
                SVGPlot(
                    title: "Time to personalise every user", xLabel: "clients", yLabel: "seconds", logX: true,
                    logY: true,
                    series: [
                        measured.map { measured in
                            .init(
                                name: "Thaw measured, \(measured.results.workers) workers (all phones personalised)",
                                color: "#1f77b4",
                                points: measured.results.rows.compactMap { row -> (x: Double, y: Double)? in
                                    row.goalSeconds.map { (x: Double(row.phones), y: $0) }
                                })
                        }
                            ?? .init(
                                name: "Thaw, \(report.clients.first?.workers ?? 1) workers", color: "#1f77b4",
                                points: report.clients.map { (x: Double($0.clients), y: $0.thawSecondsAllWorkers) }),
                        .init(
                            name: "FedAvg to target", color: "#d62728",
                            points: report.clients.compactMap { r -> (x: Double, y: Double)? in
                                r.fedAvgSecondsToTarget.map { (x: Double(r.clients), y: $0) }
                            }),
                    ])
            ),
        ]
    }
}
