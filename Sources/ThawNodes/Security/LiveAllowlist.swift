import Foundation
import Logging
import Synchronization
import UnixSignals

/// An allowlist that a running node reloads without a restart: on SIGHUP and when its file changes
/// (checked once a second by its modification time and size). The ZAP handler and every
/// ``AccessPolicy`` made from it read ``current`` on each handshake and each message, so a revoked
/// key's new connections are refused from the reload on, and messages still arriving on its existing
/// connections are refused (never acknowledged).
///
/// A file that does not parse is not applied: the node keeps the list it has and logs why.
public final class LiveAllowlist: Sendable {
    /// The file it reloads from.
    public let path: String
    private let state: Mutex<State>

    private struct State {
        var list: Allowlist
        var stamp: FileStamp?
        var reloads = 0
    }

    /// What tells one version of the file from the next without reading it.
    struct FileStamp: Equatable {
        var modified: Date
        var size: Int
        var inode: Int

        init?(path: String) {
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                let modified = attributes[.modificationDate] as? Date
            else { return nil }
            self.modified = modified
            self.size = (attributes[.size] as? NSNumber)?.intValue ?? 0
            self.inode = (attributes[.systemFileNumber] as? NSNumber)?.intValue ?? 0
        }
    }

    /// Loads `path`.
    /// - Throws: ``SecurityError`` `missingFile` or `badAllowlist`.
    public init(path: String) throws {
        self.path = path
        let stamp = FileStamp(path: path)
        state = Mutex(State(list: try Allowlist.load(path: path), stamp: stamp))
    }

    /// The list in force now.
    public var current: Allowlist { state.withLock { $0.list } }

    /// Successful reloads so far.
    public var reloads: Int { state.withLock { $0.reloads } }

    /// Reads the file again and applies it if it parses.
    /// - Returns: the keys removed and added, or nil when the file did not parse (the old list stays).
    @discardableResult
    public func reload(reason: String, logger: Logger) -> (revoked: [Allowlist.Entry], added: [Allowlist.Entry])? {
        let stamp = FileStamp(path: path)
        let fresh: Allowlist
        do {
            fresh = try Allowlist.load(path: path)
        } catch {
            state.withLock { $0.stamp = stamp }
            logger.error(
                "allowlist not reloaded; keeping the previous one",
                metadata: ["reason": "\(reason)", "allowlist": "\(path)", "error": "\(error)"])
            return nil
        }
        let previous = state.withLock { state in
            defer {
                state.list = fresh
                state.stamp = stamp
                state.reloads += 1
            }
            return state.list
        }
        let before = Set(previous.entries.map(\.publicKey))
        let after = Set(fresh.entries.map(\.publicKey))
        let revoked = previous.entries.filter { !after.contains($0.publicKey) }
        let added = fresh.entries.filter { !before.contains($0.publicKey) }
        logger.notice(
            "allowlist reloaded",
            metadata: [
                "reason": "\(reason)", "allowlist": "\(path)", "allowlist.keys": "\(fresh.entries.count)",
                "revoked": "\(revoked.map(\.principal.userID))", "added": "\(added.map(\.principal.userID))",
            ])
        return (revoked, added)
    }

    /// Reloads on SIGHUP and whenever the file's stamp changes, until the calling task is cancelled.
    public func watch(logger: Logger, interval: Duration = .seconds(1)) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup) {
                    self.reload(reason: "SIGHUP", logger: logger)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    let stamp = FileStamp(path: self.path)
                    if stamp != nil, stamp != self.state.withLock({ $0.stamp }) {
                        self.reload(reason: "file changed", logger: logger)
                    }
                }
            }
            await group.next()
            group.cancelAll()
        }
    }
}
