import Synchronization
import ThawZMQ

#if canImport(Glibc)
import Glibc
#endif

/// Short `ipc://` endpoints in a fresh `/tmp/thaw-XXXXXX` directory, removed by ``removeAll()``.
///
/// Unix socket paths are limited to 107 bytes, so the directory is short (never under the build
/// folder), and each name carries the pid and a random tag so parallel tests and stale files from
/// killed processes never collide.
public final class TemporaryEndpoints: Sendable {
    /// The directory holding the socket files.
    public let directory: String
    private let tag: UInt32
    private let counter = Atomic<Int>(0)

    /// Creates the directory.
    /// - Throws: ``TestKitError`` if `mkdtemp` fails.
    public init() throws {
        var template = Array("/tmp/thaw-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TestKitError("mkdtemp(/tmp/thaw-XXXXXX) failed")
        }
        directory = String(cString: made)
        tag = UInt32.random(in: 0..<(1 << 20))
    }

    /// A new endpoint `ipc:///tmp/thaw-XXXXXX/<pid>-<tag>-<n>-<name>`.
    public func next(_ name: String = "s") -> Endpoint {
        let number = counter.add(1, ordering: .relaxed).newValue
        return .ipc(path: "\(directory)/\(getpid())-\(String(tag, radix: 36))-\(number)-\(name.prefix(16))")
    }

    /// Removes every file in the directory and the directory itself. Safe to call twice.
    public func removeAll() {
        guard let stream = opendir(directory) else { return }
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { unlink("\(directory)/\(name)") }
        }
        closedir(stream)
        rmdir(directory)
    }
}
