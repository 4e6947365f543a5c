import Foundation
import Synchronization

/// One child process of a multi-process test (usually a `thaw` node), with captured output, a
/// ready-line wait, a hard-timeout reaper, and SIGTERM → grace → SIGKILL teardown.
///
/// Built on Foundation `Process` rather than swift-subprocess: `Process` gives the pid at once and a
/// termination callback, which is all the event plumbing needed, while swift-subprocess's API wants
/// the whole lifetime inside one closure, which fits badly with "start five nodes, then test".
/// Blocking pipe reads run on two dedicated threads per process, never on the cooperative pool.
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

    private struct State {
        var output: [String] = []
        var readyLine: ReadyLine?
        var readyError: ReadyLineError?
        var exit: ExitStatus?
        /// stdout reached EOF: no ready line can come any more.
        var stdoutClosed = false
        /// Streams (stdout, stderr) that reached EOF; the exit is announced once both did, so a caller
        /// who waited for the exit sees all output.
        var closedStreams = 0
        /// The exit status as reported by the OS, before it is announced.
        var reportedExit: ExitStatus?
        /// When the OS reported the exit (taken on the termination callback's thread, so a busy test
        /// process does not stretch it).
        var exitedAt: ContinuousClock.Instant?
        var reaped = false
        var nextWaiter = 0
        var readyWaiters: [Int: CheckedContinuation<ReadyLine, any Error>] = [:]
        var exitWaiters: [Int: CheckedContinuation<ExitStatus, any Error>] = [:]
    }

    /// The node name used as the output prefix.
    public let name: String
    /// The child's process id.
    public let pid: Int32
    /// A reference to the lock-protected state, shared with the reader threads and OS callbacks
    /// (`Mutex` is non-copyable, so closures capture this box instead).
    private final class Box: Sendable {
        let state = Mutex(State())
    }

    private let box = Box()
    /// Most lines kept per process; older ones are dropped so a chatty node cannot exhaust memory.
    private static let maximumLines = 20_000

    /// Launches `executable` with `arguments`.
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
    ) throws {
        let url = try executable ?? Self.thawExecutable()
        let process = Process()
        process.executableURL = url
        process.arguments = arguments
        // A thaw node started by a test stops by itself if the test process dies before tearing it down.
        process.environment = ProcessInfo.processInfo.environment.merging(["THAW_EXIT_WITH_PARENT": "1"]) { $1 }
            .merging(environment) { $1 }
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        self.name = name
        let box = self.box
        process.terminationHandler = { child in
            let status: ExitStatus = child.terminationReason == .uncaughtSignal
                ? .signaled(child.terminationStatus) : .exited(child.terminationStatus)
            Self.record(exit: status, in: box)
        }
        do {
            // A child inherits the spawning thread's signal mask, and Foundation's Process on Linux
            // does not reset it. Swift concurrency and Dispatch worker threads block almost every
            // signal (measured: SigBlk fffffffe3bfbea27 in a child spawned from a test), so the child
            // would never see SIGTERM. Spawn with an empty mask, then restore this thread's mask.
            var empty = sigset_t()
            var previous = sigset_t()
            sigemptyset(&empty)
            pthread_sigmask(SIG_SETMASK, &empty, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            try process.run()
        } catch {
            throw NodeProcessError(.launchFailed, node: name, reason: "cannot start \(url.path): \(error)")
        }
        self.pid = process.processIdentifier
        Self.startReader(stdout.fileHandleForReading, stream: "stdout", node: name, box: box, parseReady: true)
        Self.startReader(stderr.fileHandleForReading, stream: "stderr", node: name, box: box, parseReady: false)
        let pid = self.pid
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.seconds(hardTimeout)) {
            let alive = box.state.withLock { state in
                if state.reportedExit == nil { state.reaped = true }
                return state.reportedExit == nil
            }
            if alive { kill(pid, SIGKILL) }
        }
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

    /// When the OS reported the child's exit, or nil while it runs.
    public var exitedAt: ContinuousClock.Instant? { box.state.withLock { $0.exitedAt } }

    /// Whether the hard-timeout reaper killed the child.
    public var wasReaped: Bool { box.state.withLock { $0.reaped } }

    /// Writes the captured output to the test's stderr (call it when a test fails).
    public func printOutput() {
        let text = output.joined(separator: "\n") + "\n"
        FileHandle.standardError.write(Data("---- output of \(name) (pid \(pid)) ----\n\(text)".utf8))
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
        // Never signal a pid the OS already reaped (it could be reused); just wait for the announcement.
        if box.state.withLock({ $0.reportedExit != nil }) { return try await waitForExit(timeout: .seconds(10)) }
        kill(pid, SIGTERM)
        do {
            return try await waitForExit(timeout: grace)
        } catch let error as NodeProcessError where error.code == .exitTimeout {
            // A starved test process may time out after the child exited in time: never SIGKILL then
            // (the pid may be reaped and reused), take the exit the OS reported.
            if box.state.withLock({ $0.reportedExit != nil }) { return try await waitForExit(timeout: .seconds(10)) }
            kill(pid, SIGKILL)
            return try await withTimeout(.seconds(10), code: .killTimeout, what: "still running after SIGKILL") {
                try await self.exitEvent()
            }
        }
    }

    /// Waits for the child to exit on its own.
    /// - Throws: ``NodeProcessError`` with code `exitTimeout` after `timeout`.
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

    /// Notes the OS-reported exit; it is announced when both output streams closed, or after
    /// `outputDrainLimit` if a grandchild still holds a pipe open.
    private static func record(exit: ExitStatus, in box: Box) {
        let now = ContinuousClock.now
        box.state.withLock { state in
            state.reportedExit = exit
            state.exitedAt = now
            announceExitIfComplete(&state, force: false)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + outputDrainLimit) {
            box.state.withLock { announceExitIfComplete(&$0, force: true) }
        }
    }

    /// How long an exit waits for its output streams to close before it is announced anyway.
    private static let outputDrainLimit = 1.0

    private static func announceExitIfComplete(_ state: inout State, force: Bool) {
        guard state.exit == nil, let exit = state.reportedExit, force || state.closedStreams == 2 else { return }
        state.exit = exit
        for waiter in state.exitWaiters.values { waiter.resume(returning: exit) }
        state.exitWaiters = [:]
    }

    /// Reads one pipe to EOF on a dedicated thread, splitting lines; stdout lines that start with `{`
    /// are candidate ready lines (the first one decides, later ones are only logged).
    private static func startReader(_ handle: FileHandle, stream: String, node: String, box: Box, parseReady: Bool) {
        let thread = Thread {
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    handleLine(line, stream: stream, node: node, box: box, parseReady: parseReady)
                }
            }
            if !pending.isEmpty {
                handleLine(String(decoding: pending, as: UTF8.self), stream: stream, node: node, box: box, parseReady: parseReady)
            }
            box.state.withLock { state in
                state.closedStreams += 1
                announceExitIfComplete(&state, force: false)
                guard parseReady else { return }
                state.stdoutClosed = true
                guard state.readyLine == nil, state.readyError == nil else { return }
                let error = noReadyLine(node: node, state: state)
                for waiter in state.readyWaiters.values { waiter.resume(throwing: error) }
                state.readyWaiters = [:]
            }
        }
        thread.name = "\(node)-\(stream)"
        thread.start()
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

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
