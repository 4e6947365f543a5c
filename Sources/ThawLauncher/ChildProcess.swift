import Foundation
import Synchronization
import ThawNodes

/// A `thaw` child process started by `thaw up`: stdout is read line by line (ready line, progress,
/// reports); stderr (the logs) goes to a file so the console stays readable.
///
/// Stopping follows swift-subprocess's teardown: SIGTERM, a grace period, then SIGKILL. The exit is
/// observed through the process's termination handler (no polling): ``waitForExit()`` suspends until it.
package final class ChildProcess: Sendable {
    /// How a child ended.
    package enum Termination: Sendable, Hashable, CustomStringConvertible {
        case exited(Int32)
        case signaled(Int32)

        package var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signaled(let signal): "killed by signal \(signal)\(signal == SIGKILL ? " (SIGKILL)" : "")"
            }
        }

        /// The number the report shows: the exit status, or minus the signal.
        package var code: Int32 {
            switch self {
            case .exited(let status): status
            case .signaled(let signal): -signal
            }
        }
    }

    let name: String
    let logPath: String
    /// Every stdout line, in order; finishes when the child closes stdout.
    package let lines: AsyncStream<String>
    private let process: Mutex<Process>
    private let exit = ExitBox()

    /// The termination and whoever waits for it; a class, so the termination handler can share it.
    private final class ExitBox: Sendable {
        struct State {
            var termination: Termination?
            var waiters: [Int: CheckedContinuation<Termination?, Never>] = [:]
            var nextWaiter = 0
        }
        let state = Mutex(State())

        func withLock<R: Sendable>(_ body: (inout State) -> R) -> R { state.withLock { body(&$0) } }
    }

    package init(name: String, executable: String, arguments: [String], logPath: String, environment: [String: String]) throws {
        self.name = name
        self.logPath = logPath
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { _, new in new }
        process.environment = env
        let stdout = Pipe()
        process.standardOutput = stdout
        // Appended to, so a restarted node's log follows the previous run's.
        if !FileManager.default.fileExists(atPath: logPath) {
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        let (lines, continuation) = AsyncStream<String>.makeStream()
        self.lines = lines
        let buffer = LineBuffer()
        stdout.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if data.isEmpty {
                handle.readabilityHandler = nil
                continuation.finish()
                return
            }
            let complete: [String] = buffer.bytes.withLock { pending in
                pending += data
                var out: [String] = []
                while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                    out.append(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
                return out
            }
            for line in complete { continuation.yield(line) }
        }
        let exit = self.exit
        process.terminationHandler = { ended in
            let termination: Termination =
                ended.terminationReason == .uncaughtSignal
                ? .signaled(ended.terminationStatus) : .exited(ended.terminationStatus)
            let waiters = exit.withLock { state in
                state.termination = termination
                defer { state.waiters = [:] }
                return state.waiters
            }
            for waiter in waiters.values { waiter.resume(returning: termination) }
        }
        // A child inherits the signal mask of the spawning thread, and Swift's pool and Dispatch threads
        // block nearly every signal, so a child would never see SIGTERM. Spawn with an empty mask.
        var empty = sigset_t()
        var previous = sigset_t()
        sigemptyset(&empty)
        pthread_sigmask(SIG_SETMASK, &empty, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        try process.run()
        self.process = Mutex(process)
    }

    package var pid: Int32 { process.withLock { $0.processIdentifier } }
    package var isRunning: Bool { exit.withLock { $0.termination == nil } }
    /// How the child ended, nil while it runs.
    package var termination: Termination? { exit.withLock { $0.termination } }
    /// The exit status, minus the signal number when a signal ended it; nil while it runs.
    var exitStatus: Int32? { termination?.code }

    /// Suspends until the child has exited (returns at once if it already has).
    @discardableResult
    package func waitForExit() async -> Termination {
        // A wait without a timeout resumes only through the termination handler.
        await waitForExit(timeout: nil)!
    }

    /// Suspends until the child has exited or `timeout` passed (then nil).
    package func waitForExit(timeout: Duration?) async -> Termination? {
        await withCheckedContinuation { (continuation: CheckedContinuation<Termination?, Never>) in
            let registered: Int? = exit.withLock { state in
                if state.termination != nil { return nil }
                state.nextWaiter += 1
                state.waiters[state.nextWaiter] = continuation
                return state.nextWaiter
            }
            guard let id = registered else {
                continuation.resume(returning: termination)
                return
            }
            guard let timeout else { return }
            let exit = self.exit
            Task {
                try? await Task.sleep(for: timeout)
                exit.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: nil)
            }
        }
    }

    /// Sends `number` unless the child has already exited (so a reused pid is never signalled).
    package func signal(_ number: Int32) {
        exit.withLock { state in
            if state.termination == nil { kill(pid, number) }
        }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (nil if it had to be killed).
    @discardableResult
    package func stop(grace: Duration) async -> Int32? {
        signal(SIGTERM)
        let inTime = await waitForExit(timeout: grace)
        if let inTime { return inTime.code }
        signal(SIGKILL)
        await waitForExit()
        return nil
    }
}

/// Bytes of a partial stdout line between two reads (a class, so the reader closure can share it).
private final class LineBuffer: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
