import Foundation
import ThawNodes

/// The final report of a `thaw up` run.
public struct RunReport: Sendable {
    public var started: [String] = []
    public var ending = ""
    public var exitStatuses: [String: Int32] = [:]
    /// `thaw up`'s exit status: 0 only when the goal was reached (``TopologyLauncher/Ending/exitCode``).
    public var exitCode: Int32 = 0
    /// Nodes that `thaw up` restarted, with why each restart happened ("killed by signal 9").
    public var restarts: [String: [String]] = [:]
    /// The node that kept failing and ended the run, if one did.
    public var failedNode: String?
    var phones: [PhoneReport] = []
    /// Every Thaw phone's account from its persisted state, read after its device process exited.
    package var persisted: [PersistedPhoneReport] = []
    /// The progress lines of a FedAvg server, in order (empty in a Thaw run).
    var fedAvg: [FedAvgProgressLine] = []
    /// The final accounts of FedAvg phones.
    var fedAvgPhones: [FedAvgFleetNode.ReportLine] = []

    public var meanAccuracyBefore: Double { mean(phones.map(\.accuracyBefore)) }
    public var meanAccuracyAfter: Double { mean(phones.map(\.accuracyAfter)) }
    public var improvedUsers: Int { phones.filter { $0.accuracyAfter > $0.accuracyBefore }.count }
    public var phoneCount: Int { phones.count }

    private func mean(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }

    /// A table a person reads at the end of the demo.
    public func render() -> String {
        if phones.isEmpty, let start = fedAvg.first(where: { $0.event == "fedavg-started" }) {
            return renderFedAvg(start: start)
        }
        var lines = ["", "Thaw run report (\(ending))", ""]
        lines.append(
            pad(["user", "device", "annotated", "acc before", "acc after", "heads", "rejected", "batches", "retries", "KiB sent", "energy J"]))
        for phone in phones {
            lines.append(
                pad([
                    phone.user, phone.device, "\(phone.annotated)", pct(phone.accuracyBefore), pct(phone.accuracyAfter),
                    "\(phone.headsSwapped)", "\(phone.headsRejected)", "\(phone.batchesSent)", "\(phone.batchRetries)",
                    String(format: "%.1f", Double(phone.bytesSent) / 1024),
                    String(format: "%.1f", phone.energyJoules.values.reduce(0, +)),
                ]))
        }
        lines.append("")
        lines.append(
            "mean held-out accuracy \(pct(meanAccuracyBefore)) -> \(pct(meanAccuracyAfter)); "
                + "\(improvedUsers) of \(phones.count) users improved; "
                + "batches sent \(batchesSent), "
                + "\(phones.filter { $0.accuracyAfter < $0.accuracyBefore }.count) worse; "
                + "heads swapped in \(phones.map(\.headsSwapped).reduce(0, +)), "
                + "declined by the phones' gates \(phones.map(\.headsRejected).reduce(0, +)), "
                + "bytes sent \(phones.map(\.bytesSent).reduce(0, +))")
        lines += persistedLines
        lines += supervisionLines
        return lines.joined(separator: "\n") + "\n"
    }

    /// Batches the phones sent: from their state files when there are any (true even after a forced kill),
    /// else from the processes' final reports.
    public var batchesSent: Int {
        persisted.isEmpty ? phones.map(\.batchesSent).reduce(0, +) : persisted.map(\.batchesSent).reduce(0, +)
    }

    /// The phones' state files: what they kept, whatever happened to their processes at the end.
    var persistedLines: [String] {
        guard !persisted.isEmpty else { return [] }
        let read = persisted.filter { $0.problem == nil }
        var lines = [
            "phones' state files: \(read.count) of \(persisted.count) read; annotated "
                + "\(read.map(\.annotated).reduce(0, +)), batches sent \(read.map(\.batchesSent).reduce(0, +)) "
                + "(\(read.map(\.batchesAcknowledged).reduce(0, +)) acknowledged, "
                + "\(read.map(\.batchesUnacknowledged).reduce(0, +)) unacknowledged), samples not yet sent "
                + "\(read.map(\.samplesPending).reduce(0, +))"
        ]
        if phones.count < persisted.count {
            lines.append(
                "final reports (accuracy, heads, energy) from \(phones.count) of \(persisted.count) phones; "
                    + "the others' process ended without printing one")
        }
        for phone in persisted where phone.problem != nil { lines.append("\(phone.device): \(phone.problem ?? "")") }
        return lines
    }

    /// "killed by signal 9 (SIGKILL)" or "2× killed by signal 9 (SIGKILL); exit status 1", in first-seen order.
    static func tally(_ reasons: [String]) -> String {
        var order: [String] = []
        var counts: [String: Int] = [:]
        for reason in reasons {
            if counts[reason] == nil { order.append(reason) }
            counts[reason, default: 0] += 1
        }
        return order.map { counts[$0]! > 1 ? "\(counts[$0]!)× \($0)" : $0 }.joined(separator: "; ")
    }

    /// Restarts, the node that kept failing, nodes that did not exit cleanly at the end.
    var supervisionLines: [String] {
        var lines: [String] = []
        let restarted = restarts.sorted { $0.key < $1.key }
        lines.append(
            "restarts \(restarts.values.map(\.count).reduce(0, +))"
                + (restarted.isEmpty
                    ? "" : ": " + restarted.map { "\($0.key) \($0.value.count) (\(Self.tally($0.value)))" }
                        .joined(separator: ", ")))
        if let failedNode { lines.append("\(failedNode) kept failing; the run ended without reaching its goal") }
        let failed = exitStatuses.filter { $0.value != 0 }.sorted { $0.key < $1.key }
        if !failed.isEmpty {
            lines.append("nodes that did not exit cleanly: " + failed.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
        }
        lines.append("exit status \(exitCode)")
        return lines
    }

    /// The FedAvg baseline's report: the global model's held-out accuracy per round.
    func renderFedAvg(start: FedAvgProgressLine) -> String {
        var lines = ["", "FedAvg run report (\(ending))", ""]
        lines.append(pad(["round", "selected", "reported", "samples", "accuracy"]))
        lines.append(pad(["0", "-", "-", "-", pct(start.accuracy)]))
        for round in fedAvg where round.event == "fedavg-round" {
            lines.append(
                pad([
                    "\(round.round)", "\(round.selected.count)", "\(round.contributors.count)", "\(round.samples)",
                    pct(round.accuracy),
                ]))
        }
        if !fedAvgPhones.isEmpty {
            lines.append("")
            lines.append(pad(["user", "device", "samples", "updates", "KiB down", "KiB up", "energy J"]))
            for phone in fedAvgPhones {
                lines.append(
                    pad([
                        phone.user, phone.device, "\(phone.samples)", "\(phone.updates)",
                        String(format: "%.1f", (phone.ledger["radio_bytes_down"] ?? 0) / 1024),
                        String(format: "%.1f", (phone.ledger["radio_bytes_up"] ?? 0) / 1024),
                        String(format: "%.2f", phone.ledger["energy_joules"] ?? 0),
                    ]))
            }
        }
        let last = fedAvg.last { $0.event == "fedavg-round" }
        lines.append("")
        lines.append(
            "global held-out accuracy \(pct(start.accuracy)) -> \(pct(last?.accuracy ?? start.accuracy)) after "
                + "\(last?.round ?? 0) rounds; updates refused \(fedAvg.last?.refusals ?? 0), "
                + "malformed messages \(fedAvg.last?.malformed ?? 0)")
        lines += supervisionLines
        return lines.joined(separator: "\n") + "\n"
    }

    private func pct(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

    private func pad(_ cells: [String]) -> String {
        cells.map { $0.padding(toLength: max(11, $0.count), withPad: " ", startingAt: 0) }.joined(separator: " ")
    }
}
