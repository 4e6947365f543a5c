import Foundation
import Synchronization
import ThawNodes

/// A `thaw` child process started by `thaw up`: stdout is read line by line (ready line, progress,
/// reports); stderr (the logs) goes to a file so the console stays readable.
///
/// Stopping follows swift-subprocess's teardown: SIGTERM, a grace period, then SIGKILL.
package final class ChildProcess: Sendable {
    let name: String
    let logPath: String
    /// Every stdout line, in order; finishes when the child closes stdout.
    package let lines: AsyncStream<String>
    private let process: Mutex<Process>

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
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
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
    package var isRunning: Bool { process.withLock { $0.isRunning } }
    var exitStatus: Int32? { process.withLock { $0.isRunning ? nil : $0.terminationStatus } }

    func signal(_ number: Int32) {
        let pid = self.pid
        if isRunning { kill(pid, number) }
    }

    /// SIGTERM, wait up to `grace`, then SIGKILL. Returns the exit status (nil if it had to be killed).
    @discardableResult
    package func stop(grace: Duration) async -> Int32? {
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if isRunning {
            signal(SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(20)) }
            return nil
        }
        return exitStatus
    }
}

/// Bytes of a partial stdout line between two reads (a class, so the reader closure can share it).
private final class LineBuffer: Sendable {
    let bytes = Mutex<[UInt8]>([])
}
