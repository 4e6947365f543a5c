import Foundation
import Testing
import ThawLauncher
import ThawNodes
import ThawTestKit

/// Issue 18: `thaw up` supervises its nodes. Real `thaw up` runs on ipc:// endpoints in a temporary
/// folder; faults are injected with kill -9 on the pids `thaw up` prints; every wait is bounded.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct SupervisionTests {
    /// A `thaw up` run of the integration topology in its own folder, removed afterwards.
    final class UpRun: Sendable {
        let path: String
        let up: NodeProcess

        init(workers: Int, phones: Int, headsPerDevice: Int = 1, timeLimit: Int = 280) async throws {
            path = "/tmp/thaw-sv-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let topology = try IntegrationTopology(
                name: "supervision", modelPath: try FaultToleranceTests.baseModel.get(), workers: workers,
                phones: phones, epochs: 3, flushSamples: 4, flushInterval: "1s", monitor: true,
                headsPerDevice: headsPerDevice
            ).write(in: path)
            up = try await NodeProcess(
                name: "up", arguments: ["up", topology, "--out", "\(path)/out", "--time-limit", "\(timeLimit)"],
                hardTimeout: .seconds(400))
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        /// What `thaw up` printed on stdout, without the test kit's `[up stdout] ` prefix.
        var lines: [String] {
            up.output.filter { $0.hasPrefix("[up stdout] ") }.map { String($0.dropFirst("[up stdout] ".count)) }
        }

        /// Runs `body` on its own OS thread, not on the cooperative pool: in a whole-suite run other
        /// suites' synchronous work (pretraining) can starve the pool for minutes, and fault injection
        /// must keep pace with the run it targets. Blocking waits are fine there.
        static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
            try await withCheckedThrowingContinuation { continuation in
                let thread = Thread { continuation.resume(with: Result { try body() }) }
                thread.name = "supervision-faults"
                thread.start()
            }
        }

        /// Blocks until `thaw up` printed a line containing `text` (after the first `skip` lines).
        @discardableResult
        func awaitLine(_ text: String, after skip: Int = 0, timeout: Duration = .seconds(120)) throws -> String {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if let line = up.output.dropFirst(skip).first(where: { $0.contains(text) }) { return line }
                if up.exitStatus != nil { break }
                usleep(50_000)
            }
            throw FaultToleranceTests.TestFailure("thaw up printed no line containing '\(text)'")
        }

        /// The pid of node `name`'s current process, from `thaw up`'s latest "started"/"restarted" line.
        func pid(of name: String) throws -> Int32 {
            let line = up.output.last { $0.contains("started \(name) (pid ") }
            guard let line, let range = line.range(of: "(pid ") else {
                throw FaultToleranceTests.TestFailure("no pid for \(name)")
            }
            guard let pid = Int32(line[range.upperBound...].prefix { $0.isNumber }) else {
                throw FaultToleranceTests.TestFailure("no pid in '\(line)'")
            }
            return pid
        }

        /// kill -9 node `name`; with `awaitRestart`, block until `thaw up` restarted it under a new pid.
        func kill9(_ name: String, awaitRestart: Bool = true) throws {
            let seen = up.output.count
            let pid = try pid(of: name)
            guard up.exitStatus == nil, !lines.contains(where: { $0.hasPrefix("[thaw up] stopping") }) else {
                throw FaultToleranceTests.TestFailure("thaw up was already stopping before \(name) could be killed")
            }
            guard kill(pid, SIGKILL) == 0 else { throw FaultToleranceTests.TestFailure("kill -9 \(name) (\(pid)) failed") }
            guard awaitRestart else { return }
            try awaitLine("\(name) exited unexpectedly (killed by signal 9", after: seen)
            try awaitLine("restarted \(name) (pid", after: seen, timeout: .seconds(120))
            guard try self.pid(of: name) != pid else { throw FaultToleranceTests.TestFailure("\(name) has its old pid") }
        }

        func audit() throws -> RegistryAudit {
            let store = try RegistryStore(path: "\(path)/registry.sqlite")
            defer { try? store.close() }
            return try store.audit()
        }
    }

    @Test func aWorkerAndTheRegistryKilledDuringThawUpComeBackAndTheRunReachesItsGoal() async throws {
        // Two heads per phone: a run long enough that both kills land before the goal.
        let run = try await UpRun(workers: 2, phones: 4, headsPerDevice: 2)
        do {
            try await UpRun.onThread {
                try run.awaitLine("processes ready", timeout: .seconds(300))
                // Under load: batches are stored and being trained.
                let deadline = ContinuousClock.now + .seconds(20)
                while (try? run.audit().batches) ?? 0 < 2, ContinuousClock.now < deadline { usleep(200_000) }
                try run.kill9("worker-0")
                try run.kill9("registry")
            }
            let status = try await run.up.waitForExit(timeout: .seconds(330))
            let output = run.lines
            for line in output where line.contains("exited unexpectedly") || line.contains("restart")
                || line.hasPrefix("phones' state files") || line.hasPrefix("mean held-out") || line.hasPrefix("exit status") {
                print("[supervision] \(line)")
            }
            if status != .exited(0) { run.up.printOutput() }
            #expect(status == .exited(0))
            #expect(output.contains { $0.contains("Thaw run report (goal reached)") })
            let restarts = try #require(output.first { $0.hasPrefix("restarts ") })
            #expect(restarts.hasPrefix("restarts 2: registry 1 (killed by signal 9"), "\(restarts)")
            #expect(restarts.contains("worker-0 1 (killed by signal 9"), "\(restarts)")
            #expect(output.contains("exit status 0"))
            // Nothing lost, nothing trained twice, no gap in any device's batches.
            let audit = try run.audit()
            #expect(audit.untrained.isEmpty, "stored but never trained: \(audit.untrained)")
            #expect(audit.duplicateSamples.isEmpty, "stored twice: \(audit.duplicateSamples)")
            for (device, seqs) in audit.sequencesByDevice {
                #expect(seqs == Array(1...UInt64(seqs.count)), "\(device) has gaps: \(seqs)")
            }
            #expect(audit.usersWithHeads == 4)
            #expect(audit.heads >= 8)
        } catch {
            run.up.printOutput()
            _ = try? await run.up.terminate(grace: .seconds(15))
            throw error
        }
    }

    @Test func aNodeThatKeepsFailingEndsTheRunWithANonZeroStatusThatNamesIt() async throws {
        // A goal the run cannot reach, so only the failing node can end it.
        let run = try await UpRun(workers: 1, phones: 2, headsPerDevice: 1000)
        do {
            let policy = RestartPolicy.standard
            try await UpRun.onThread {
                try run.awaitLine("processes ready", timeout: .seconds(300))
                for _ in 0..<policy.maximumRestarts { try run.kill9("worker") }
                try run.kill9("worker", awaitRestart: false)
            }
            let status = try await run.up.waitForExit(timeout: .seconds(240))
            let output = run.lines
            #expect(status == .exited(3))
            #expect(output.contains { $0.contains("worker failed \(policy.maximumRestarts + 1) times within") })
            #expect(output.contains("Thaw run report (worker kept failing)"))
            #expect(output.contains("worker kept failing; the run ended without reaching its goal"))
            #expect(output.contains("exit status 3"))
        } catch {
            run.up.printOutput()
            _ = try? await run.up.terminate(grace: .seconds(15))
            throw error
        }
    }
}

/// The restart rule itself, with time passed in.
struct RestartBudgetTests {
    @Test func backOffDoublesAndTheBudgetIsPerWindow() {
        let policy = RestartPolicy(
            maximumRestarts: 3, window: .seconds(60), initialBackoff: .milliseconds(500), maximumBackoff: .seconds(1))
        var budget = RestartBudget<ContinuousClock.Instant>(policy: policy)
        let start = ContinuousClock.now
        #expect(budget.exited(at: start) == .restart(after: .milliseconds(500), attempt: 1))
        #expect(budget.exited(at: start + .seconds(1)) == .restart(after: .seconds(1), attempt: 2))
        #expect(budget.exited(at: start + .seconds(2)) == .restart(after: .seconds(1), attempt: 3))
        #expect(budget.exited(at: start + .seconds(3)) == .giveUp(failures: 4))
        // Once the early restarts leave the window, the node may be restarted again.
        #expect(budget.exited(at: start + .seconds(61.5)) == .restart(after: .seconds(1), attempt: 2))
        #expect(budget.total == 4)
    }
}

/// Issue 18: a device process stops when asked within a bound, and what `thaw up` reports about the
/// phones is read from their persisted state, so it is true after a graceful stop and after a kill.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct DeviceStopTests {
    /// The bound: the roles' graceful stop deadline plus the launcher's margin before SIGKILL.
    static let stopBound: Duration = RoleService.gracefulStopDeadline + .seconds(2)

    /// The phones' persisted accounts agree with the registry: every batch the registry stored for a
    /// phone has a sequence number the phone used, and every batch the phone holds as acknowledged was stored.
    static func expectPersistedMatchesRegistry(_ cluster: FaultToleranceTests.Cluster, phones: Int) throws {
        let persisted = DeviceFleetNode.persistedReports(
            stateDirectory: "\(cluster.path)/state/phones", node: "phones", phones: phones)
        let audit = try cluster.audit()
        #expect(persisted.count == phones)
        for phone in persisted {
            #expect(phone.problem == nil, "\(phone.device): \(phone.problem ?? "")")
            let stored = audit.sequencesByDevice[phone.device] ?? []
            #expect(stored.allSatisfy { $0 <= UInt64(phone.batchesSent) }, "\(phone.device): \(stored) vs \(phone.batchesSent) sent")
            #expect(phone.batchesAcknowledged <= stored.count, "\(phone.device): acknowledged \(phone.batchesAcknowledged), stored \(stored.count)")
            #expect(phone.batchesSent >= stored.count)
        }
        let total = persisted.map(\.batchesSent).reduce(0, +)
        print("[device-stop] persisted: \(total) batches sent by \(phones) phones; registry stored \(audit.batches)")
        #expect(total >= audit.batches && total > 0)
    }

    @Test func aDeviceProcessUnderLoadStopsOnSIGTERMWithinTheBoundAndItsStateFilesTellTheTruth() async throws {
        let phones = 24
        try await FaultToleranceTests.Cluster.run(workers: 1, phones: phones) { cluster in
            try await cluster.startAll()
            try await cluster.waitUntil("batches flowing") { try cluster.audit().batches >= 4 }
            // Graceful: SIGTERM while phones are flushing and pulling.
            let device = try cluster.node("phones")
            // From SIGTERM to the exit the OS reported (not to when this, possibly starved, test saw it).
            let started = ContinuousClock.now
            let status = try await device.terminate(grace: Self.stopBound + .seconds(20))
            let took = (device.exitedAt ?? ContinuousClock.now) - started
            print("[device-stop] \(phones) phones stopped on SIGTERM in \(took) (\(status))")
            #expect(status == .exited(0))
            #expect(took <= Self.stopBound, "the device process took \(took) to stop on SIGTERM")
            try Self.expectPersistedMatchesRegistry(cluster, phones: phones)

            // Forced: start it again on the same state, and kill -9 it under load.
            try await cluster.start("phones")
            let before = try cluster.audit().batches
            try await cluster.waitUntil("more batches after the restart") { try cluster.audit().batches > before }
            try await cluster.kill("phones")
            try Self.expectPersistedMatchesRegistry(cluster, phones: phones)
        }
    }
}

/// Issue 18: a role needs only what it uses. The monitor reads no model; the coordinator does, and
/// without one it says which file and which flag.
@Suite(.serialized, .timeLimit(.minutes(3)))
struct RoleInputTests {
    @Test func theMonitorRunsWithoutABaseModelAndTheCoordinatorNamesTheFlagItNeeds() async throws {
        let path = "/tmp/thaw-ri-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        // The topology names a model file that does not exist, and the working folder has none either.
        let topology = try IntegrationTopology(
            name: "inputs", modelPath: "\(path)/no-such-model.thaw", workers: 1, phones: 1
        ).write(in: path)
        let monitor = try await NodeProcess(
            name: "monitor",
            arguments: ["monitor", "--topology", topology, "--node", "monitor", "--state-dir", "\(path)/state"],
            hardTimeout: .seconds(300))
        let ready = try await monitor.waitForReady(timeout: .seconds(60))
        #expect(ready.role == "monitor")
        let stopped = try await monitor.terminate(grace: .seconds(30))
        if stopped != .exited(0) { monitor.printOutput() }
        #expect(stopped == .exited(0), "reaped by the hard timeout: \(monitor.wasReaped)")

        let missing = "\(path)/absent.thaw"
        let coordinator = try await NodeProcess(
            name: "coordinator",
            arguments: [
                "coordinator", "--topology", topology, "--node", "coordinator", "--base-model", missing,
                "--state-dir", "\(path)/state",
            ],
            hardTimeout: .seconds(300))
        let status = try await coordinator.waitForExit(timeout: .seconds(120))
        #expect(status != .exited(0))
        let error = coordinator.output.first { $0.contains("needs the base model") }
        #expect(error?.contains(missing) == true, "\(coordinator.output)")
        #expect(error?.contains("--base-model") == true)
    }
}
