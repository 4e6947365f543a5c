import ThawWire

/// Binds an authenticated key to what it may ask for: a device key acts only for the users the
/// allowlist lists for it and only under its own phones' device ids; cloud keys act for their role.
///
/// Pure: it looks at a decoded message and the User-Id libzmq stamped on it, and answers with a
/// refusal or nothing, so it is tested without sockets. A node holds one only for sockets that
/// authenticate (CURVE on tcp); on plain ipc endpoints there is no key to bind and no policy.
///
/// Made from a ``LiveAllowlist``, it checks every message against the list in force at that moment,
/// so a key revoked by a reload is refused on connections it opened before.
public struct AccessPolicy: Sendable {
    private let fixed: Allowlist?
    private let live: LiveAllowlist?

    /// The list in force for the next check.
    public var allowlist: Allowlist { live?.current ?? fixed ?? Allowlist.empty }

    public init(allowlist: Allowlist) {
        self.fixed = allowlist
        self.live = nil
    }

    /// A policy that follows `live` as it is reloaded.
    public init(live: LiveAllowlist) {
        self.fixed = nil
        self.live = live
    }

    /// The principal behind a message's User-Id, or a refusal when there is none (an authenticated
    /// socket never delivers one without; refusing it keeps the check closed by default).
    public func principal(_ userID: String?) -> Result<Principal, AccessRefusal> {
        guard let userID else { return .failure(AccessRefusal(principal: nil, "message without an authenticated User-Id")) }
        guard let principal = Principal(userID: userID), allowlist.lists(principal) else {
            // Also a principal whose keys were revoked while its connection stayed open.
            return .failure(AccessRefusal(principal: nil, "unknown User-Id '\(userID)'"))
        }
        return .success(principal)
    }

    /// A request to the registry.
    public func checkRegistry(_ message: ThawMessage, from userID: String?) -> AccessRefusal? {
        let principal: Principal
        switch self.principal(userID) {
        case .failure(let refusal): return refusal
        case .success(let known): principal = known
        }
        switch message {
        case .baseModelRequest:
            return nil
        case .headRequest(let request):
            if principal.kind == .worker { return nil }
            if principal.kind == .device {
                return actsFor(principal, user: request.userID, device: request.deviceID, what: "head pull")
            }
            return AccessRefusal(principal: principal, "a \(principal.kind) may not pull heads")
        case .baseModelUpload:
            return principal.kind == .ctl
                ? nil : AccessRefusal(principal: principal, "only ctl keys may upload base models")
        case .sampleCountRequest:
            return principal.kind == .coordinator || principal.kind == .ctl
                ? nil : AccessRefusal(principal: principal, "only the coordinator may ask for sample counts")
        case .featureBatch, .featureFetch, .headCommit:
            return principal.kind == .worker
                ? nil : AccessRefusal(principal: principal, "only workers may send \(message.kind) to the registry")
        default:
            return nil  // the registry answers anything else with `unsupported`
        }
    }

    /// A feature batch on a worker's PULL socket.
    public func checkBatch(_ batch: ThawWire.FeatureBatch, from userID: String?) -> AccessRefusal? {
        switch principal(userID) {
        case .failure(let refusal): return refusal
        case .success(let principal) where principal.kind == .device:
            return actsFor(principal, user: batch.userID, device: batch.deviceID, what: "feature batch")
        case .success(let principal):
            return AccessRefusal(principal: principal, "only devices send feature batches")
        }
    }

    /// A command on the coordinator's control socket: operators only.
    /// A retrain request on a worker's PULL socket: only the registry sends those.
    public func checkRetrain(from userID: String?) -> AccessRefusal? {
        switch principal(userID) {
        case .failure(let refusal): return refusal
        case .success(let principal) where principal.kind == .registry: return nil
        case .success(let principal): return AccessRefusal(principal: principal, "only the registry may ask for retraining")
        }
    }

    public func checkControl(from userID: String?) -> AccessRefusal? {
        switch principal(userID) {
        case .failure(let refusal): return refusal
        case .success(let principal) where principal.kind == .ctl: return nil
        case .success(let principal): return AccessRefusal(principal: principal, "only ctl keys may send control commands")
        }
    }

    private func actsFor(_ principal: Principal, user: String, device: String, what: String) -> AccessRefusal? {
        guard allowlist.users(of: principal).contains(user) else {
            return AccessRefusal(principal: principal, "\(what) for user '\(user)', who is not bound to this key")
        }
        guard principal.owns(device: device) else {
            return AccessRefusal(principal: principal, "\(what) claims device '\(device)', which is not one of this key's")
        }
        return nil
    }
}

/// Why a message from an authenticated peer was refused; counted and logged by the node.
public struct AccessRefusal: Error, Hashable, Sendable, CustomStringConvertible {
    /// The authenticated sender, when known.
    public var principal: Principal?
    public var reason: String

    public init(principal: Principal?, _ reason: String) {
        self.principal = principal
        self.reason = reason
    }

    public var description: String { "\(principal.map { "\($0): " } ?? "")\(reason)" }
}
