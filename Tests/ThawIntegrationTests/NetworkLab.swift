import Foundation
import Synchronization

/// Hosts made of Linux network namespaces on this machine, for tests that need real separate
/// network stacks (issue 16's multi-host run).
///
/// Every host is a namespace `thmh<pid>-<host>` with one interface `eth0` and an address on a private
/// /24; the hosts meet on a bridge inside one more namespace, the switch (`thmh<pid>-sw`), where each
/// host's cable is a veth port named after the host. Nothing is created in the test process's own
/// namespace: no interface, no address, no route. Host names resolve inside every host through
/// `/etc/netns/<namespace>/hosts`, which `ip netns exec` mounts over `/etc/hosts`, so a topology can
/// name `cloud-1` as the real file does.
///
/// Ownership: ``tearDown()`` deletes every namespace (which destroys its veth ends and the bridge) and
/// the `/etc/netns` folders; it is idempotent and runs from `deinit` too. Processes must be stopped
/// first (a namespace lives on while a process is inside it). Leftovers of a test process that was
/// killed before its teardown (its pid no longer runs) are removed by the next ``init(hosts:)``.
final class NetworkLab: Sendable {
    /// iproute2's `ip`, or nil when it is not installed.
    static let ipTool: String? = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    struct CommandFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// The namespace prefix of this test process; the pid lets a later run tell a leftover from a live lab.
    static let prefix = "thmh"
    let tag = "\(NetworkLab.prefix)\(getpid())"
    /// Host name → its address on the lab's /24.
    let addresses: [String: String]
    private let torn = Mutex(false)

    /// Creates the switch and one namespace per host (addresses `10.216.0.11`, `.12`, … in the given order).
    /// - Throws: ``CommandFailure`` naming the `ip` command that failed (e.g. no permission to create
    ///   namespaces); whatever was created is removed before the error propagates.
    init(hosts: [String]) throws {
        addresses = Dictionary(uniqueKeysWithValues: hosts.enumerated().map { ($1, "10.216.0.\(11 + $0)") })
        Self.removeLeftovers()
        do {
            try run("netns", "add", namespace("sw"))
            try run("-n", namespace("sw"), "link", "add", "br0", "type", "bridge")
            try run("-n", namespace("sw"), "link", "set", "br0", "up")
            let hostsFile = hosts.map { "\(addresses[$0]!) \($0)\n" }.joined()
            for host in hosts {
                try run("netns", "add", namespace(host))
                try run("-n", namespace("sw"), "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", namespace(host))
                try run("-n", namespace("sw"), "link", "set", host, "master", "br0", "up")
                try run("-n", namespace(host), "link", "set", "lo", "up")
                try run("-n", namespace(host), "addr", "add", "\(addresses[host]!)/24", "dev", "eth0")
                try run("-n", namespace(host), "link", "set", "eth0", "up")
                let etc = "/etc/netns/\(namespace(host))"
                try FileManager.default.createDirectory(atPath: etc, withIntermediateDirectories: true)
                try "127.0.0.1 localhost\n\(hostsFile)".write(toFile: "\(etc)/hosts", atomically: true, encoding: .utf8)
            }
        } catch {
            tearDown()
            throw error
        }
    }

    deinit { tearDown() }

    /// The namespace of `host` (or of the switch, `sw`).
    func namespace(_ host: String) -> String { "\(tag)-\(host)" }

    /// The arguments that run `command` inside `host`'s namespace: `ip netns exec` switches namespace
    /// and then execs the command in place, so the child's pid is the command's own.
    func inside(_ host: String, _ command: [String]) -> [String] { ["netns", "exec", namespace(host)] + command }

    /// Pulls `host`'s cable at the switch (`ip link set <port> down`): its eth0 loses carrier and every
    /// packet to or from it is dropped until ``plug(_:)``. TCP connections are not reset.
    func unplug(_ host: String) throws { try run("-n", namespace("sw"), "link", "set", host, "down") }

    /// Puts `host`'s cable back.
    func plug(_ host: String) throws { try run("-n", namespace("sw"), "link", "set", host, "up") }

    /// Whether a tcp connection from inside `from` to `to:port` opens within `seconds` (bash's /dev/tcp).
    func canConnect(from: String, to: String, port: Int, seconds: Int = 2) -> Bool {
        let result = try? Self.execute(
            Self.ipTool ?? "ip",
            inside(from, ["timeout", "\(seconds)", "bash", "-c", "exec 3<>/dev/tcp/\(to)/\(port)"]))
        return result?.status == 0
    }

    /// The established tcp connections inside `host` to remote port `port`, as `local -> remote`
    /// address pairs (`ss`, from iproute2): the same set before and after a cut means the connections
    /// survived it rather than being re-made.
    func connections(in host: String, toPort port: Int) -> Set<String> {
        let result = try? Self.execute(
            Self.ipTool ?? "ip", inside(host, ["ss", "-Htn", "state", "established", "( dport = :\(port) )"]))
        let lines = (result?.output ?? "").split(separator: "\n")
        return Set(lines.compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count >= 4 ? "\(fields[2]) -> \(fields[3])" : nil
        })
    }

    /// Deletes the namespaces and hosts files of this lab; safe to call more than once.
    func tearDown() {
        let first = torn.withLock { torn in
            defer { torn = true }
            return !torn
        }
        if first { Self.remove(tag: tag) }
    }

    // MARK: - Commands

    @discardableResult
    private func run(_ arguments: String...) throws -> String {
        guard let ip = Self.ipTool else { throw CommandFailure(description: "no ip (iproute2) installed") }
        let result = try Self.execute(ip, arguments)
        guard result.status == 0 else {
            throw CommandFailure(description: "ip \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.output)")
        }
        return result.output
    }

    /// Runs a short command to its end and returns its exit status and merged output. Blocking: call it
    /// off the cooperative pool when the command may take a while.
    static func execute(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Deletes every namespace and hosts folder whose name starts with `tag-`.
    private static func remove(tag: String) {
        guard let ip = ipTool else { return }
        let listed = (try? execute(ip, ["netns", "list"]).output) ?? ""
        for line in listed.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            if name.hasPrefix("\(tag)-") { _ = try? execute(ip, ["netns", "delete", name]) }
        }
        let etc = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/netns")) ?? []
        for name in etc where name.hasPrefix("\(tag)-") { try? FileManager.default.removeItem(atPath: "/etc/netns/\(name)") }
        // Only if no one else keeps hosts files there.
        _ = rmdir("/etc/netns")
    }

    /// Removes labs of test processes that no longer run (killed before their teardown).
    private static func removeLeftovers() {
        guard let ip = ipTool else { return }
        let listed = (try? execute(ip, ["netns", "list"]).output) ?? ""
        let etc = (try? FileManager.default.contentsOfDirectory(atPath: "/etc/netns")) ?? []
        let names = listed.split(separator: "\n").map { String($0.split(separator: " ").first ?? "") } + etc
        var owners = Set<Int32>()
        for name in names where name.hasPrefix(prefix) {
            if let pid = Int32(name.dropFirst(prefix.count).prefix { $0.isNumber }), pid != getpid(), kill(pid, 0) != 0 {
                owners.insert(pid)
            }
        }
        for pid in owners { remove(tag: "\(prefix)\(pid)") }
    }
}
