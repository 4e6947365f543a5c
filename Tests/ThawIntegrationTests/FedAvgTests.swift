import Foundation
import Testing
import ThawData
import ThawLearning
import ThawModel
import ThawNN
import ThawNodes
import ThawTestKit
import ThawZMQ

/// FedAvg on the real transport: a `thaw fedavg` server and a FedAvg device process as separate `thaw`
/// processes on ipc:// endpoints in a temporary folder.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct FedAvgTests {
    static let rounds = 4
    static let phones = 4

    static func topology(_ workspace: DistributedSystemTests.Workspace) throws -> String {
        let text = """
            name: fedavg-integration
            seed: 42
            model:
              cache: \(workspace.path)/base-model.thaw
            goal:
              duration: 3m
            nodes:
              - name: server
                role: fedavg
                endpoints:
                  router: ipc://\(workspace.path)/fedavg
                options:
                  rounds: \(rounds)
                  client-fraction: 1
                  local-epochs: 5
                  batch-size: 10
                  learning-rate: 0.05
                  round-deadline: 90s
                  freeze-point: 7
              - name: phones
                role: device
                count: \(phones)
                peers: [server]
                options:
                  annotation-share: 0.5

            """
        let file = "\(workspace.path)/fedavg.yaml"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    static func lines<Line: Decodable>(_ node: NodeProcess, event: String, as type: Line.Type) -> [Line] {
        node.output.filter { $0.contains("\"event\":\"\(event)\"") }.compactMap { line in
            guard let start = line.firstIndex(of: "{") else { return nil }
            return try? JSONDecoder().decode(Line.self, from: Data(line[start...].utf8))
        }
    }

    @Test func roundsCountEverySelectedClientAndTheGlobalModelImproves() async throws {
        let workspace = try DistributedSystemTests.Workspace()
        let topology = try Self.topology(workspace)
        func arguments(_ role: String, _ node: String) -> [String] {
            [
                role, "--topology", topology, "--node", node, "--base-model", "\(workspace.path)/base-model.thaw",
                "--state-dir", "\(workspace.path)/state",
            ]
        }
        let server = try await NodeProcess(
            name: "server", arguments: arguments("fedavg", "server"), hardTimeout: .seconds(300))
        var phones: NodeProcess?
        do {
            _ = try await server.waitForReady(timeout: .seconds(120))
            try Self.sendBadInput(to: "ipc://\(workspace.path)/fedavg")
            phones = try await NodeProcess(
                name: "phones", arguments: arguments("device", "phones"), hardTimeout: .seconds(300))
            _ = try await phones?.waitForReady(timeout: .seconds(60))
            // The server stops by itself after its last round.
            let serverExit = try await server.waitForExit(timeout: .seconds(240))
            #expect(serverExit == .exited(0))
            #expect(try await phones?.terminate(grace: .seconds(10)) == .exited(0))
        } catch {
            server.printOutput()
            phones?.printOutput()
            _ = try? await phones?.terminate(grace: .seconds(2))
            _ = try? await server.terminate(grace: .seconds(2))
            throw error
        }
        let device = try #require(phones)

        let start = try #require(Self.lines(server, event: "fedavg-started", as: FedAvgProgressLine.self).first)
        let rounds = Self.lines(server, event: "fedavg-round", as: FedAvgProgressLine.self)
        let finished = try #require(Self.lines(server, event: "fedavg-finished", as: FedAvgProgressLine.self).first)
        let reports = Self.lines(device, event: "fedavg-device-report", as: FedAvgFleetNode.ReportLine.self)
        if rounds.count != Self.rounds || reports.count != Self.phones {
            server.printOutput()
            device.printOutput()
        }
        #expect(rounds.map(\.round) == Array(1...Self.rounds))
        #expect(finished.round == Self.rounds)
        #expect(reports.count == Self.phones)

        // C = 1 and no deadline hit: every phone is selected and every update is averaged, weighted by the
        // samples each phone declared (the sum of n_k over the contributors is the whole fleet's).
        let fleetSamples = reports.reduce(0) { $0 + $1.samples }
        for round in rounds {
            #expect(round.clients == Self.phones)
            #expect(round.selected.count == Self.phones)
            #expect(round.contributors == round.selected, "round \(round.round): \(round.missing) missing")
            #expect(round.samples == fleetSamples)
        }
        // The rogue's update was refused (stale round or not selected) and its garbage counted; neither
        // stopped the server nor entered an average.
        #expect(finished.refusals == 1)
        #expect(finished.malformed == 1)

        // The global head learned from the phones' data: held-out accuracy on the test users rose.
        #expect(finished.accuracy > start.accuracy, "accuracy \(start.accuracy) -> \(rounds.map(\.accuracy))")

        // Each phone trained once per round and booked the work in its energy ledger.
        for report in reports {
            #expect(report.updates == Self.rounds)
            #expect(report.refused == 0)
            #expect((report.ledger["flops"] ?? 0) > 0)
            #expect((report.ledger["energy_compute_joules"] ?? 0) > 0)
            #expect((report.ledger["radio_bytes_up"] ?? 0) > 0)
            #expect((report.ledger["radio_bytes_down"] ?? 0) > (report.ledger["radio_bytes_up"] ?? 0) / 2)
        }
    }

    /// A peer that is not a phone of the topology: one undecodable frame, then a well-formed FedAvgUpdate
    /// (the golden fixture with its client id changed to `rogue-03`), which the server must refuse.
    static func sendBadInput(to endpoint: String) throws {
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("ThawWireTests/Fixtures/fedavg_update.hex")
        let hexFrames = try String(contentsOf: fixture, encoding: .utf8)
            .replacingOccurrences(of: "70686f6e65732d33", with: "726f6775652d3033")  // "phones-3" -> "rogue-03"
            .split(separator: "\n")
        let frames = hexFrames.map { line in
            Frame(
                stride(from: 0, to: line.count, by: 2).map { offset in
                    let start = line.index(line.startIndex, offsetBy: offset)
                    return UInt8(line[start..<line.index(start, offsetBy: 2)], radix: 16)!
                })
        }
        let context = try ZMQContext()
        let dealer = try ZMQSocket(context: context, kind: .dealer)
        try dealer.set(.linger(.seconds(5)))
        try dealer.connect(Endpoint(endpoint))
        try dealer.send([Frame([0xde, 0xad, 0xbe, 0xef])])
        try dealer.send(frames)
        dealer.close()
        try context.shutdown()
    }
}
