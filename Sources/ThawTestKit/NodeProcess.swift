import Foundation
import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// One child process of a multi-process test (usually a `thaw` node), with captured output, a
/// ready-line wait, a hard-timeout reaper, and SIGTERM → grace → SIGKILL teardown.
///
/// Built on swift-subprocess, whose `run` keeps a child's whole lifetime inside one closure. A test
/// wants the opposite shape ("start five nodes, then test"), so the async initialiser starts `run`
/// in a detached task and returns as soon as the child has a pid; the closure then lives as long as
/// the child. That buys what Foundation's `Process` made us hand-write: output read as async line
/// sequences (no reader threads), the exit seen through a process descriptor (no polling, no
/// termination-callback thread), children spawned with an empty signal mask, and signals sent
/// through the process descriptor, so a late one can never reach a reused pid. The `Execution` is
/// kept outside the closure only while the closure runs (cleared under the state lock before it
/// returns, so before swift-subprocess reaps the child and closes the descriptor).
///
/// Thread rule: every method may be called from any task; state lives behind a `Mutex`.
/// Ownership: the caller must call ``terminate(grace:)`` (or use ``withNodeProcess(_:arguments:executable:environment:hardTimeout:_:)``);
/// if it does not, the reaper kills the child after `hardTimeout`, so no test leaves a process behind
/// for longer than that.
public final class NodeProcess: Sendable {
    /// How a child ended.
    public enum ExitStatus: Hashable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        public var description: String {
            switch self {
            case .exited(let code): "exit code \(code)"
            case .signaled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// The running child as swift-subprocess hands it to `run`'s closure.
    private typealias Running = Execution<NoInput, SequenceOutput, SequenceOutput>

    private struct State {
        var output: [String] = []
        var readyLine: ReadyLine?
        var readyError: ReadyLineError?
        var exit: ExitStatus?
        /// Why swift-subprocess lost track of the child after starting it (it should never happen).
        var exitError: NodeProcessError?
        /// stdout reached EOF: no ready line can come any more.
        var stdoutClosed = false
        /// `run` called its closure: the pid went back to the initialiser.
        var launched = false
        /// The child while `run`'s closure runs; nil before and after, so no signal outlives it.
        var running: Running?
        /// When swift-subprocess saw the child exit (before the output was drained and the exit announced).
        var exitedAt: ContinuousClock.Instant?
        /// A caller sent SIGKILL itself (so a SIGKILL exit after the deadline is not the reaper's).
        var killedByCaller = false
        var reaped = false
        var nextWaiter = 0
        var readyWaiters: [Int: CheckedContinuation<ReadyLine, any Error>] = [:]
        var exitWaiters: [Int: CheckedContinuation<ExitStatus, any Error>] = [:]
    }

    /// The node name used as the output prefix.
    public let name: String
    /// The child's process id.
    public let pid: Int32
    /// A reference to the lock-protected state, shared with the task that runs the child
    /// (`Mutex` is non-copyable, so closures capture this box instead).
    private final class Box: Sendable {
        let state = Mutex(State())
    }

    private let box: Box
    /// Most lines kept per process; older ones are dropped so a chatty node cannot exhaust memory.
    private static let maximumLines = 20_000

    /// Launches `executable` with `arguments` and returns once the child has a pid.
    /// - Parameters:
    ///   - name: node name, used as the output prefix and in errors.
    ///   - executable: the binary; defaults to ``thawExecutable()``.
    ///   - environment: extra variables merged over the test process's environment.
    ///   - hardTimeout: after this long the child is killed with SIGKILL no matter what.
    /// - Throws: ``NodeProcessError`` with code `binaryNotFound` or `launchFailed`.
    public init(
        name: String,
        arguments: [String],
        executable: URL? = nil,
        environment: [String: String] = [:],
        hardTimeout: Duration = .seconds(120)
    ) async throws {
        let url = try executable ?? Self.thawExecutable()
        // A thaw node started by a test stops by itself if the test process dies before tearing it down.
        var overrides: [Environment.Key: String?] = ["THAW_EXIT_WITH_PARENT": "1"]
        for (key, value) in environment { overrides[Environment.Key(stringLiteral: key)] = value }
        let configuration = Configuration(
            executable: .path(FilePath(url.path)), arguments: Arguments(arguments), environment: .inherit.updating(overrides)
        )
        let box = Box()
        self.name = name
        self.box = box
        self.pid = try await withCheckedThrowingContinuation { started in
            // Detached: the child outlives this call, and its task must not inherit the caller's
            // executor preference or cancellation.
            Task.detached {
                await Self.run(configuration, name: name, hardTimeout: hardTimeout, box: box, started: started)
            }
        }
    }

    /// Runs the child to its end: hands back the pid, drains both streams, watches for the exit or
    /// the hard deadline, then announces the exit (after both streams hit EOF, so a caller who
    /// waited for the exit sees all output).
    private static func run(
        _ configuration: Configuration, name: String, hardTimeout: Duration, box: Box,
        started: CheckedContinuation<Int32, any Error>
    ) async {
        do {
            let result = try await Subprocess.run(configuration, input: .none, output: .sequence, error: .sequence) {
                (execution: Running) in
                box.state.withLock { state in
                    state.running = execution
                    state.launched = true
                }
                started.resume(returning: execution.processIdentifier.value)
                let deadline = ContinuousClock.now + hardTimeout
                await withTaskGroup(of: Void.self) { group in
                    group.addTask { await drain(execution.standardOutput, name: "stdout", node: name, box: box, parseReady: true) }
                    group.addTask { await drain(execution.standardError, name: "stderr", node: name, box: box, parseReady: false) }
                    group.addTask {
                        // The reaper: the teardown returns as soon as the child exits (swift-subprocess
                        // watches its process descriptor); at the deadline it sends SIGKILL. The first
                        // step's signal 0 only checks that the child is there.
                        await execution.teardown(using: [.send(signal: Signal(rawValue: 0), allowedDurationToNextStep: hardTimeout)])
                        let now = ContinuousClock.now
                        box.state.withLock { state in
                            state.exitedAt = now
                            state.reaped = now >= deadline && !state.killedByCaller
                        }
                    }
                }
                box.state.withLock { $0.running = nil }
            }
            let status: ExitStatus = switch result.terminationStatus {
            case .exited(let code): .exited(code)
            case .signaled(let signal): .signaled(signal)
            }
            box.state.withLock { state in
                // Only a SIGKILL can be the reaper's; any other end after the deadline was the child's own.
                if status != .signaled(SIGKILL) { state.reaped = false }
                announce(.success(status), in: &state)
            }
        } catch {
            if !box.state.withLock({ $0.launched }) {
                started.resume(throwing: NodeProcessError(.launchFailed, node: name, reason: "cannot start \(configuration.executable): \(error)"))
                return
            }
            box.state.withLock { state in
                state.running = nil
                let failure = NodeProcessError(.lostTrack, node: name, reason: "swift-subprocess stopped watching it: \(error)", output: state.output)
                announce(.failure(failure), in: &state)
            }
        }
    }

    private static func announce(_ outcome: Result<ExitStatus, NodeProcessError>, in state: inout State) {
        switch outcome {
        case .success(let exit): state.exit = exit
        case .failure(let error): state.exitError = error
        }
        for waiter in state.exitWaiters.values { waiter.resume(with: outcome.mapError { $0 }) }
        state.exitWaiters = [:]
    }

    /// The `thaw` binary: `$THAW_BIN`, else `thaw` in the build folder that holds the test bundle.
    /// - Throws: ``NodeProcessError`` with code `binaryNotFound`.
    public static func thawExecutable() throws -> URL {
        if let override = ProcessInfo.processInfo.environment["THAW_BIN"], !override.isEmpty {
            return URL(fileURLWithPath: override)
        }
        // On Linux `Bundle.main.bundleURL` is the build folder; on macOS it is inside the xctest bundle.
        let candidates = [Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
            .map { $0.appendingPathComponent("thaw") }
        guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw NodeProcessError(.binaryNotFound, node: "thaw", reason: "no thaw binary at \(candidates.map(\.path)); set THAW_BIN")
        }
        return found
    }

    /// Every captured line so far, each prefixed `[name stdout]` or `[name stderr]`.
    public var output: [String] { box.state.withLock { $0.output } }

    /// How the child ended, or nil while it runs.
    public var exitStatus: ExitStatus? { box.state.withLock { $0.exit } }

    /// When swift-subprocess saw the child exit, or nil while it runs.
    public var exitedAt: ContinuousClock.Instant? { box.state.withLock { $0.exitedAt } }

    /// Whether the hard-timeout reaper killed the child.
    public var wasReaped: Bool { box.state.withLock { $0.reaped } }

    /// Writes the captured output to the test's stderr (call it when a test fails).
    public func printOutput() {
        let text = output.joined(separator: "\n") + "\n"
        FileHandle.standardError.write(Data("---- output of \(name) (pid \(pid)) ----\n\(text)".utf8))
    }

    /// Sends `signal` to the child through its process descriptor, unless it has already exited.
    /// - Returns: whether the signal was sent.
    @discardableResult
    public func send(signal: Int32) -> Bool {
        box.state.withLock { state in
            guard state.exit == nil, let running = state.running else { return false }
            if signal == SIGKILL { state.killedByCaller = true }
            return (try? running.send(signal: Signal(rawValue: signal))) != nil
        }
    }

    /// Waits for the child's ready line.
    /// - Returns: the parsed line.
    /// - Throws: ``NodeProcessError`` with code `readyTimeout` after `timeout`, `exitedBeforeReady` if
    ///   the child ends first, or `malformedReadyLine` if its first JSON line does not parse.
    public func waitForReady(timeout: Duration = .seconds(30)) async throws -> ReadyLine {
        try await withTimeout(timeout, code: .readyTimeout, what: "no ready line") {
            try await self.readyEvent()
        }
    }

    /// Stops the child: SIGTERM, up to `grace` for it to exit, then SIGKILL.
    /// - Returns: how it ended (`.exited(0)` after a graceful stop); already-ended children return at once.
    /// - Throws: ``NodeProcessError`` with code `killTimeout` only if the child survives SIGKILL for 10 s.
    @discardableResult
    public func terminate(grace: Duration = .seconds(5)) async throws -> ExitStatus {
        if let exit = exitStatus { return exit }
        // Not sent: the child is gone and its exit is on the way; just wait for the announcement.
        guard send(signal: SIGTERM) else { return try await waitForExit(timeout: .seconds(10)) }
        do {
            return try await waitForExit(timeout: grace)
        } catch let error as NodeProcessError where error.code == .exitTimeout {
            // A starved test process may time out after the child exited in time; the SIGKILL then
            // reaches a zombie through its descriptor and changes nothing, so no check is needed.
            send(signal: SIGKILL)
            return try await withTimeout(.seconds(10), code: .killTimeout, what: "still running after SIGKILL") {
                try await self.exitEvent()
            }
        }
    }

    /// Waits for the child to exit on its own.
    /// - Throws: ``NodeProcessError`` with code `exitTimeout` after `timeout`, or `lostTrack`.
    public func waitForExit(timeout: Duration) async throws -> ExitStatus {
        try await withTimeout(timeout, code: .exitTimeout, what: "still running") { try await self.exitEvent() }
    }

    // MARK: - Events

    private func readyEvent() async throws -> ReadyLine {
        let id = box.state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ReadyLine, any Error>) in
                box.state.withLock { state in
                    if let line = state.readyLine {
                        continuation.resume(returning: line)
                    } else if let error = state.readyError {
                        continuation.resume(throwing: NodeProcessError(.malformedReadyLine, node: name, reason: error.description, output: state.output))
                    } else if state.stdoutClosed {
                        continuation.resume(throwing: Self.noReadyLine(node: name, state: state))
                    } else if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        state.readyWaiters[id] = continuation
                    }
                }
            }
        } onCancel: {
            box.state.withLock { $0.readyWaiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    private func exitEvent() async throws -> ExitStatus {
        let id = box.state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ExitStatus, any Error>) in
                box.state.withLock { state in
                    if let exit = state.exit {
                        continuation.resume(returning: exit)
                    } else if let error = state.exitError {
                        continuation.resume(throwing: error)
                    } else if Task.isCancelled {
                        continuation.resume(throwing: CancellationError())
                    } else {
                        state.exitWaiters[id] = continuation
                    }
                }
            }
        } onCancel: {
            box.state.withLock { $0.exitWaiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Reads one stream to EOF as lines; stdout lines that start with `{` are candidate ready lines
    /// (the first one decides, later ones are only logged). swift-subprocess ends the sequence when
    /// the child exits, even if a grandchild still holds the pipe, after draining what is buffered.
    private static func drain(_ stream: SubprocessOutputSequence, name: String, node: String, box: Box, parseReady: Bool) async {
        do {
            // Unbounded lines, as a node prints them: a cap would end the read and leave the pipe full.
            for try await line in stream.strings(bufferingPolicy: .unbounded) {
                handleLine(line, stream: name, node: node, box: box, parseReady: parseReady)
            }
        } catch {
            handleLine("(reading \(name) failed: \(error))", stream: name, node: node, box: box, parseReady: false)
        }
        guard parseReady else { return }
        box.state.withLock { state in
            state.stdoutClosed = true
            guard state.readyLine == nil, state.readyError == nil else { return }
            let error = noReadyLine(node: node, state: state)
            for waiter in state.readyWaiters.values { waiter.resume(throwing: error) }
            state.readyWaiters = [:]
        }
    }

    /// The error for a child whose stdout closed without a ready line (it exited, or closed stdout).
    private static func noReadyLine(node: String, state: State) -> NodeProcessError {
        let how = state.exit.map { "exited (\($0))" } ?? "closed stdout"
        return NodeProcessError(.exitedBeforeReady, node: node, reason: "\(how) before its ready line", output: state.output)
    }

    private static func handleLine(_ line: String, stream: String, node: String, box: Box, parseReady: Bool) {
        box.state.withLock { state in
            state.output.append("[\(node) \(stream)] \(line)")
            if state.output.count > maximumLines { state.output.removeFirst(state.output.count - maximumLines) }
            guard parseReady, line.hasPrefix("{"), state.readyLine == nil, state.readyError == nil else { return }
            do throws(ReadyLineError) {
                let ready = try ReadyLine.parse(line)
                state.readyLine = ready
                for waiter in state.readyWaiters.values { waiter.resume(returning: ready) }
            } catch {
                state.readyError = error
                let failure = NodeProcessError(.malformedReadyLine, node: node, reason: error.description, output: state.output)
                for waiter in state.readyWaiters.values { waiter.resume(throwing: failure) }
            }
            state.readyWaiters = [:]
        }
    }

    private func withTimeout<T: Sendable>(
        _ timeout: Duration, code: NodeProcessError.Code, what: String, _ body: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw NodeProcessError(code, node: self.name, reason: "\(what) after \(timeout)", output: self.output)
            }
            defer { group.cancelAll() }
            return try await group.next()!  // two tasks were added, so there is a first result
        }
    }
}
