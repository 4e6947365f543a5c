import Foundation
#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
import Testing
import ThawNN
import ThawNodes
import ThawTestKit
import ThawZMQ

/// Monitors as an operator uses them: attached to a running system at any time, scraped by
/// Prometheus, watched in a browser (docs/MONITORING.md). Real `thaw` processes on ipc:// endpoints.
@Suite(.serialized, .timeLimit(.minutes(8)))
struct MonitorSystemTests {
    /// The JSON objects a node printed on stdout (its `--json` lines), oldest first.
    static func jsonLines(_ node: NodeProcess) -> [[String: Any]] {
        let prefix = "[\(node.name) stdout] "
        return node.output.compactMap { line in
            guard line.hasPrefix(prefix + "{") else { return nil }
            return (try? JSONSerialization.jsonObject(with: Data(line.dropFirst(prefix.count).utf8))) as? [String: Any]
        }
    }

    /// What two monitors must agree on: the deployment, the changes seen and every node with its role.
    struct Seen: Equatable {
        var deployment: [String: String]
        var nodes: [String: String]
        var changes: Int
    }

    static func latestBoard(_ node: NodeProcess) -> Seen? {
        guard let board = jsonLines(node).last(where: { $0["kind"] as? String == "board" }),
            let deployment = board["deployment"] as? [String: Any], let nodes = board["nodes"] as? [[String: String]]
        else { return nil }
        return Seen(
            deployment: deployment.mapValues { "\($0)" },
            nodes: Dictionary(nodes.compactMap { entry in entry["node"].map { ($0, entry["role"] ?? "") } }) { a, _ in a },
            changes: (board["changes"] as? [Any])?.count ?? 0)
    }

    static let everyRole: Set<String> = ["coordinator", "registry", "worker", "device", "device-fleet", "monitor"]

    static func heartbeats(_ node: NodeProcess) -> [Int] {
        jsonLines(node).filter { $0["kind"] as? String == "heartbeat" }.compactMap { $0["epoch"] as? Int }
    }

    /// The roles of the metrics lines a monitor printed before its `count`-th heartbeat line.
    static func rolesBeforeHeartbeat(_ count: Int, of node: NodeProcess) -> Set<String>? {
        var roles: Set<String> = []
        var beats = 0
        for line in jsonLines(node) {
            if line["kind"] as? String == "heartbeat" {
                beats += 1
                if beats == count { return roles }
            } else if line["kind"] as? String == "metrics", let role = line["role"] as? String {
                roles.insert(role)
            }
        }
        return nil
    }

    static func get(_ url: String) async throws -> (Int, String) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: url)!)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    @Test func monitorsAttachAndDetachMidRunSeeTheSameStateAndNeverDisturbTheSystem() async throws {
        let workspace = try DistributedSystemTests.Workspace()
        let topology = try workspace.topology(workers: 1, phones: 2)
        let system = try await DistributedSystemTests.startNodes(
            workspace, topology: topology, names: ["registry", "coordinator", "worker", "monitor", "phones"])
        var hub = system[3]
        let device = system[4]
        var attached: [NodeProcess] = []
        func attach(_ name: String, _ extra: [String] = []) async throws -> NodeProcess {
            let node = try await NodeProcess(
                name: name, arguments: ["monitor", "--topology", topology, "--node", "monitor", "--attach", "--json"] + extra,
                hardTimeout: .seconds(420))
            attached.append(node)
            return node
        }
        do {
            // Mid-run: the first personal head has been trained, committed and swapped in.
            #expect(try await DistributedSystemTests.waitUntil(.seconds(90)) { DistributedSystemTests.swaps(device, freezePoint: 7) >= 1 })
            let first = try await attach("watch-a")
            let second = try await attach("watch-b", ["--http", "127.0.0.1:0"])
            _ = try await first.waitForReady()
            let url = try #require(try await second.waitForReady().endpoints["http"])

            // Both know every role and agree on the state (nodes, deployment, changes).
            let agreed = try await DistributedSystemTests.waitUntil(.seconds(60)) {
                guard let a = Self.latestBoard(first), let b = Self.latestBoard(second) else { return false }
                return Set(a.nodes.values).isSuperset(of: Self.everyRole) && a == b
            }
            #expect(agreed, "a: \(String(describing: Self.latestBoard(first))) b: \(String(describing: Self.latestBoard(second)))")
            // A late monitor knows the full state within one heartbeat: the hub replays it after each
            // heartbeat, so every role's report arrived before the monitor's third heartbeat line
            // (the first may have come while its subscription was still being set up).
            #expect(try await DistributedSystemTests.waitUntil(.seconds(30)) { Self.heartbeats(first).count >= 3 })
            let roles = try #require(Self.rolesBeforeHeartbeat(3, of: first))
            #expect(roles.isSuperset(of: Self.everyRole.subtracting(["monitor"])), "\(roles)")

            // Prometheus: the endpoint is scraped and parsed; every role's metrics are there.
            let (status, text) = try await Self.get(url + "metrics")
            #expect(status == 200)
            let samples = try PrometheusText.parse(text)
            let rolesExposed = Set(samples["thaw_report_age_seconds", default: []].compactMap { $0.labels["role"] })
            #expect(rolesExposed.isSuperset(of: Self.everyRole), "\(rolesExposed)")
            #expect(samples["thaw_deployment_freeze_point"]?.first?.value == 7)
            #expect(samples["thaw_accuracy"]?.isEmpty == false)

            // The dashboard in headless Chromium shows live numbers that change as the run proceeds.
            try await Self.checkDashboard(url: url)

            // Killing a monitor, then the hub itself, does not disturb the system: a freeze move still
            // reaches the phones, which rebuild, re-upload and swap in heads trained at the new point.
            _ = try await first.killHard()
            _ = try await hub.killHard()
            let moved = try await ControlClient(endpoint: Endpoint("ipc://\(workspace.path)/ctl")).send(.freeze(6))
            #expect(moved.freezePoint == FreezePoint(6))
            #expect(try await DistributedSystemTests.waitUntil(.seconds(120)) {
                DistributedSystemTests.swaps(device, freezePoint: 6) >= 2
            })
            // A new hub on the same endpoints: the attached monitor reconnects by itself and is live again.
            let beatsBefore = Self.heartbeats(second).count
            hub = try await NodeProcess(
                name: "monitor-again",
                arguments: [
                    "monitor", "--topology", topology, "--node", "monitor", "--base-model",
                    "\(workspace.path)/base-model.thaw", "--state-dir", "\(workspace.path)/state",
                ],
                hardTimeout: .seconds(300))
            attached.append(hub)
            _ = try await hub.waitForReady()
            #expect(try await DistributedSystemTests.waitUntil(.seconds(30)) {
                Self.heartbeats(second).count >= beatsBefore + 3
                    && Self.latestBoard(second)?.deployment["freeze_point"] == "6"
                    // The move's broadcast came while no hub ran; the heartbeat's newer epoch still records it.
                    && (Self.latestBoard(second)?.changes ?? 0) >= 1
            })
            try await Self.screenshot(url: url)

            for node in [second, hub] { #expect(try await node.terminate() == .exited(0)) }
        } catch {
            for node in attached.reversed() + system.reversed() {
                node.printOutput()
                _ = try? await node.terminate(grace: .seconds(2))
            }
            throw error
        }
        for node in system.reversed() where node !== system[3] {
            let status = try await node.terminate(grace: .seconds(10))
            if status != .exited(0) { node.printOutput() }
            #expect(status == .exited(0), "\(node.name)")
        }
    }
}

extension MonitorSystemTests {
    /// Debian's `chromium`, installed by scripts/bootstrap.sh.
    static func chromium() throws -> URL {
        for path in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] where FileManager.default.isExecutableFile(atPath: path) {
            return URL(fileURLWithPath: path)
        }
        throw ChromiumMissing()
    }

    struct ChromiumMissing: Error, CustomStringConvertible {
        var description: String { "no chromium: run scripts/bootstrap.sh as root (it installs Debian's chromium)" }
    }

    /// Runs headless Chromium on `url` and returns its stdout (the DOM for `--dump-dom`).
    static func runChromium(_ arguments: [String], url: String) async throws -> String {
        let profile = NSTemporaryDirectory() + "thaw-chromium-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let node = try await NodeProcess(
            name: "chromium",
            arguments: [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--user-data-dir=\(profile)", "--virtual-time-budget=4000",
            ] + arguments + [url],
            executable: try chromium(), hardTimeout: .seconds(90))
        let status = try await node.waitForExit(timeout: .seconds(80))
        if status != .exited(0) { node.printOutput() }
        #expect(status == .exited(0))
        return node.output.filter { $0.hasPrefix("[chromium stdout] ") }.map { String($0.dropFirst(18)) }
            .joined(separator: "\n")
    }

    /// The text of the element with `id` in a dumped DOM.
    static func element(_ id: String, in dom: String) -> String? {
        guard let start = dom.range(of: "id=\"\(id)\">") else { return nil }
        return String(dom[start.upperBound...].prefix { $0 != "<" })
    }

    /// Two page loads some heartbeats apart: the page rendered the server's numbers (heartbeat, mean
    /// accuracy, phones with heads) and the heartbeat moved between them.
    static func checkDashboard(url: String) async throws {
        let before = try await runChromium(["--dump-dom"], url: url)
        let beat1 = try #require(element("heartbeat", in: before))
        #expect(beat1.hasPrefix("#"), "the page rendered the state: heartbeat '\(beat1)'")
        #expect(element("nodes", in: before).flatMap { Int($0) } ?? 0 >= 5)
        #expect(element("mean-now", in: before)?.hasSuffix("%") == true)
        #expect(before.contains("<svg"), "charts are drawn")
        try await Task.sleep(for: .seconds(2))  // not an assertion of absence: the next check waits for a change
        var beat2 = beat1
        for _ in 0..<5 where beat2 == beat1 {
            beat2 = element("heartbeat", in: try await runChromium(["--dump-dom"], url: url)) ?? beat1
        }
        #expect(beat2 != beat1, "the heartbeat shown should move: \(beat1) then \(beat2)")
    }

    /// A screenshot for the README, under bench-results/ at the package root.
    static func screenshot(url: String) async throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let file = root.appendingPathComponent("bench-results/dashboard.png").path
        _ = try await runChromium(["--screenshot=\(file)", "--window-size=1400,1100", "--hide-scrollbars"], url: url)
        #expect(FileManager.default.fileExists(atPath: file))
    }
}
