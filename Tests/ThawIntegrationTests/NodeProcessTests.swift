import Foundation
import Testing
import ThawTestKit

/// NodeProcess against `/bin/sh` fakes: ready-line waiting, timeouts, teardown and the reaper.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct NodeProcessTests {
    static let shell = URL(fileURLWithPath: "/bin/sh")
    static let readyJSON = #"{"ready":true,"role":"worker","node":"worker-0","pid":1,"endpoints":{"pull":"tcp://127.0.0.1:5710"}}"#

    /// A fake node: prints `stdout`, then `exec`s so the shell's pid is the long-running process
    /// (a plain `sleep` child would outlive a SIGTERM sent to the shell).
    static func fake(_ name: String, _ script: String, hardTimeout: Duration = .seconds(60)) async throws -> NodeProcess {
        try await NodeProcess(name: name, arguments: ["-c", script], executable: shell, hardTimeout: hardTimeout)
    }

    @Test func waitsForTheReadyLineAndStopsGracefully() async throws {
        // Long enough that a starved test process cannot see the sleep end by itself before SIGTERM.
        let node = try await Self.fake("worker-0", "echo 'starting' >&2; echo '\(Self.readyJSON)'; exec sleep 600")
        let ready = try await node.waitForReady(timeout: .seconds(10))
        #expect(ready == ReadyLine(role: "worker", node: "worker-0", pid: 1, endpoints: ["pull": "tcp://127.0.0.1:5710"]))
        // A generous grace: on a loaded machine the exit can take seconds to be reported.
        let status = try await node.terminate(grace: .seconds(30))
        #expect(status == .signaled(SIGTERM))
        #expect(node.output.contains("[worker-0 stderr] starting"))
        #expect(node.output.contains("[worker-0 stdout] \(Self.readyJSON)"))
    }

    @Test func aNodeThatHandlesSIGTERMExitsZero() async throws {
        let script = "trap 'exit 0' TERM; echo '\(Self.readyJSON)'; while :; do sleep 0.05; done"
        let node = try await Self.fake("graceful", script)
        _ = try await node.waitForReady(timeout: .seconds(10))
        #expect(try await node.terminate(grace: .seconds(5)) == .exited(0))
    }

    @Test func readyTimeoutThrowsWithCapturedOutput() async throws {
        let node = try await Self.fake("silent", "echo 'booting' >&2; exec sleep 30")
        let error = await #expect(throws: NodeProcessError.self) { try await node.waitForReady(timeout: .milliseconds(300)) }
        #expect(error?.code == .readyTimeout)
        #expect(error?.description.contains("[silent stderr] booting") == true)
        try await node.terminate(grace: .seconds(5))
    }

    @Test func exitBeforeReadyIsReported() async throws {
        let node = try await Self.fake("crasher", "echo 'boom' >&2; exit 3")
        let error = await #expect(throws: NodeProcessError.self) { try await node.waitForReady(timeout: .seconds(10)) }
        #expect(error?.code == .exitedBeforeReady)
        #expect(try await node.waitForExit(timeout: .seconds(5)) == .exited(3))
    }

    @Test func readyLinePrintedJustBeforeExitIsStillSeen() async throws {
        let node = try await Self.fake("quick", "echo '\(Self.readyJSON)'; exit 0")
        #expect(try await node.waitForReady(timeout: .seconds(10)).node == "worker-0")
        #expect(try await node.waitForExit(timeout: .seconds(5)) == .exited(0))
    }

    @Test func malformedReadyLineIsReported() async throws {
        let node = try await Self.fake("garbled", #"echo '{"ready":true,"role":"worker"}'; exec sleep 30"#)
        let error = await #expect(throws: NodeProcessError.self) { try await node.waitForReady(timeout: .seconds(10)) }
        #expect(error?.code == .malformedReadyLine)
        try await node.terminate(grace: .seconds(5))
    }

    @Test func aNodeIgnoringSIGTERMIsKilledAfterTheGracePeriod() async throws {
        // An ignored SIGTERM survives exec, so `sleep` itself ignores it.
        let node = try await Self.fake("stubborn", "trap '' TERM; echo '\(Self.readyJSON)'; exec sleep 30")
        _ = try await node.waitForReady(timeout: .seconds(10))
        let started = ContinuousClock.now
        let status = try await node.terminate(grace: .milliseconds(500))
        #expect(status == .signaled(SIGKILL))
        #expect(ContinuousClock.now - started >= .milliseconds(500))
    }

    @Test func hardTimeoutReaperKillsAForgottenNode() async throws {
        let node = try await Self.fake("forgotten", "exec sleep 30", hardTimeout: .milliseconds(300))
        #expect(try await node.waitForExit(timeout: .seconds(10)) == .signaled(SIGKILL))
        #expect(node.wasReaped)
    }

    @Test func scopedHelperTearsDownAndReturnsStatus() async throws {
        let (line, exit) = try await withNodeProcess(
            "scoped", arguments: ["-c", "trap 'exit 0' TERM; echo '\(Self.readyJSON)'; while :; do sleep 0.05; done"],
            executable: Self.shell
        ) { node in try await node.waitForReady(timeout: .seconds(10)) }
        #expect(line.endpoints["pull"] == "tcp://127.0.0.1:5710")
        #expect(exit == .exited(0))
    }

    /// `pid` is the child itself (the pid `kill -9` tests target), and `killHard` ends it with SIGKILL.
    @Test func pidIsTheChildsAndKillHardEndsIt() async throws {
        let line = #"{"ready":true,"role":"worker","node":"victim","pid":'$$',"endpoints":{}}"#
        let node = try await Self.fake("victim", "echo '\(line)'; exec sleep 30")
        #expect(try await node.waitForReady(timeout: .seconds(10)).pid == node.pid)
        #expect(try await node.killHard() == .signaled(SIGKILL))
        #expect(!node.wasReaped)
        #expect(!node.send(signal: SIGTERM))
    }

    /// A grandchild that keeps stdout open does not hold back the child's exit; what was printed is kept.
    @Test func aGrandchildHoldingStdoutDoesNotDelayTheExit() async throws {
        let node = try await Self.fake("parent", "sleep 3 & echo 'bye'; exit 4")
        let started = ContinuousClock.now
        #expect(try await node.waitForExit(timeout: .seconds(10)) == .exited(4))
        #expect(ContinuousClock.now - started < .seconds(3))
        #expect(node.output == ["[parent stdout] bye"])
    }

    /// Regression: children once inherited the test thread's mask with SIGTERM blocked and ignored teardown.
    @Test func childStartsWithNoBlockedSignals() async throws {
        let node = try await Self.fake("mask", "exec grep SigBlk /proc/self/status")
        #expect(try await node.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(node.output == ["[mask stdout] SigBlk:\t0000000000000000"])
    }

    @Test func readyLineRoundTripsThroughItsEncoding() throws {
        let line = ReadyLine(role: "registry", node: "registry", pid: 42, endpoints: ["router": "ipc:///tmp/t/registry.router"])
        let text = line.encodedLine()
        #expect(!text.contains("\n"))
        #expect(text == #"{"endpoints":{"router":"ipc:///tmp/t/registry.router"},"node":"registry","pid":42,"ready":true,"role":"registry"}"#)
        #expect(try ReadyLine.parse(text) == line)
        #expect(throws: ReadyLineError.self) { try ReadyLine.parse(#"{"ready":false,"role":"x","node":"x","pid":1,"endpoints":{}}"#) }
    }
}

