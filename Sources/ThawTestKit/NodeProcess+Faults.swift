import Foundation

/// Fault injection and measurement for a running node: `kill -9` (signals such as SIGSTOP and SIGCONT
/// go through ``NodeProcess/send(signal:)``) and its resident memory as the kernel reports it.
extension NodeProcess {
    /// `kill -9`: no handler runs, no file is flushed, no socket says goodbye.
    /// - Returns: how the child ended (`.signaled(9)` unless it had exited already).
    /// - Throws: ``NodeProcessError`` with code `exitTimeout` if it is still there after `timeout`.
    @discardableResult
    public func killHard(timeout: Duration = .seconds(10)) async throws -> ExitStatus {
        send(signal: SIGCONT)  // a stopped child dies on SIGKILL anyway; this keeps the order obvious
        send(signal: SIGKILL)
        return try await waitForExit(timeout: timeout)
    }

    /// The child's memory from `/proc/<pid>/status`, or nil once it has exited (or off Linux).
    public var memory: ProcessMemory? {
        guard exitStatus == nil, let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else {
            return nil
        }
        return ProcessMemory(status: text)
    }
}

/// Resident set size now and at its peak, in bytes (`VmRSS` and `VmHWM` of `/proc/<pid>/status`).
public struct ProcessMemory: Sendable, Hashable, CustomStringConvertible {
    public var residentBytes: Int
    public var peakResidentBytes: Int

    /// Parses the `VmRSS:` and `VmHWM:` lines (values in kB); nil if either is missing.
    public init?(status: String) {
        func kilobytes(_ key: String) -> Int? {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return nil }
            return line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        guard let rss = kilobytes("VmRSS:"), let peak = kilobytes("VmHWM:") else { return nil }
        residentBytes = rss
        peakResidentBytes = peak
    }

    public var description: String { "rss \(residentBytes >> 20) MiB (peak \(peakResidentBytes >> 20) MiB)" }
}
