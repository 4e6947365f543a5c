import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Whole-file reads and crash-safe whole-file replacement for small state files.
///
/// A write goes to a temporary sibling, is fsynced, then renamed over the target, so a reader (or a
/// restart after a crash) sees either the old file or the new one, never a torn mix. Thread rule: none;
/// concurrent writers to one path are the caller's bug (each node owns its files).
enum AtomicFile {
    /// Replaces the file at `path` with `bytes` atomically.
    /// - Throws: ``StateFileError`` with code `.io` and the errno when any step fails; the target is then
    ///   unchanged and the temporary file removed.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw ioError(path: temporary, step: "open") }
        var failure: StateFileError?
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = writeSome(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = ioError(path: temporary, step: "write")
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(fd) != 0 { failure = ioError(path: temporary, step: "fsync") }
        if close(fd) != 0, failure == nil { failure = ioError(path: temporary, step: "close") }
        if failure == nil, rename(temporary, path) != 0 { failure = ioError(path: path, step: "rename") }
        if let failure {
            unlink(temporary)
            throw failure
        }
    }

    /// The whole content of the file at `path`, or `nil` when it does not exist.
    /// - Throws: ``StateFileError`` `.io` when the file exists but cannot be read.
    static func read(_ path: String) throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw StateFileError(code: .io, path: path, detail: "cannot read", errno: errno)
        }
        return [UInt8](data)
    }

    /// Moves a file that failed validation aside (to `<path>.corrupt-<n>`) so that a fresh start can
    /// proceed without destroying the evidence. Returns the new path.
    static func quarantine(_ path: String) throws -> String {
        var attempt = 0
        var target = path + ".corrupt"
        while FileManager.default.fileExists(atPath: target) {
            attempt += 1
            target = path + ".corrupt-\(attempt)"
        }
        guard rename(path, target) == 0 else { throw ioError(path: path, step: "rename to \(target)") }
        return target
    }

    private static func ioError(path: String, step: String) -> StateFileError {
        let code = errno
        return StateFileError(code: .io, path: path, detail: "\(step) failed", errno: code)
    }
}

/// `write(2)` under a name that the static `AtomicFile.write` does not shadow.
private func writeSome(_ fd: Int32, _ pointer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, pointer, count)
}
