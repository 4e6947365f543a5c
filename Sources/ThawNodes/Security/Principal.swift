/// Who holds a CURVE key: a device process that acts for some users, or a cloud node with a role.
///
/// The ZAP handler returns ``userID`` (`device:phones`, `worker:trainer`) as the connection's
/// User-Id; libzmq stamps it on every message of that connection, so a node reads who sent a
/// message from the message itself and a peer cannot claim to be someone else.
public struct Principal: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Hashable, Sendable, CaseIterable {
        /// A device process (in the simulation, one process that plays several phones).
        case device
        case coordinator, registry, worker, monitor
        /// The FedAvg baseline's server (docs/FEDAVG.md).
        case fedavg
        /// An operator tool (`thaw ctl`).
        case ctl

        /// Cloud-internal roles: trusted to act for any user (workers store and commit for them).
        public var isCloud: Bool { self != .device }
    }

    public var kind: Kind
    /// The topology node name the key belongs to (a worker node's processes share its key).
    public var name: String

    public init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    /// The ZAP User-Id form, `<kind>:<name>`.
    public var userID: String { "\(kind.rawValue):\(name)" }

    /// Parses the `<kind>:<name>` form; `nil` for anything else.
    public init?(userID: String) {
        guard let colon = userID.firstIndex(of: ":"),
            let kind = Kind(rawValue: String(userID[..<colon]))
        else { return nil }
        let name = String(userID[userID.index(after: colon)...])
        guard !name.isEmpty, !name.contains(where: \.isWhitespace) else { return nil }
        self.init(kind: kind, name: name)
    }

    public var description: String { userID }

    /// Whether `device` is one of this device process's phones: `<name>-<n>` (how a fleet names them).
    public func owns(device: String) -> Bool {
        device.hasPrefix("\(name)-") && device.count > name.count + 1
    }
}
