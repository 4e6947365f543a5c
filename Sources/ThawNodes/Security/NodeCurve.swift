import Logging
import ThawZMQ

/// One process's CURVE setup: its own key pair, the server key of every tcp peer it may connect
/// to, and (when it binds tcp) the allowlist its ZAP handler checks clients against.
///
/// ``secure(_:)`` turns plain socket specs into CURVE ones: a socket that binds tcp becomes an
/// authenticated CURVE server; each tcp connect trusts exactly the key of the node behind that
/// endpoint. ipc and inproc stay plain (they never leave the machine).
public struct NodeCurve: Sendable {
    /// This process's key pair.
    public var keys: CurveKeyPair
    /// For each tcp endpoint this process may connect to, the public key file of the node behind it.
    public var serverKeyFiles: [Endpoint: String]
    /// Clients allowed in; required when a socket binds tcp. With ``liveAllowlist``, the list as loaded.
    public var allowlist: Allowlist?
    /// The allowlist file, reloaded on SIGHUP and when it changes (docs/SECURITY.md); when set, the ZAP
    /// handler and ``policy(_:bound:)`` follow it instead of ``allowlist``.
    public var liveAllowlist: LiveAllowlist?

    public init(keys: CurveKeyPair, serverKeyFiles: [Endpoint: String], allowlist: Allowlist?) {
        self.keys = keys
        self.serverKeyFiles = serverKeyFiles
        self.allowlist = allowlist
    }

    /// A setup whose allowlist is reloaded live from `live`'s file.
    public init(keys: CurveKeyPair, serverKeyFiles: [Endpoint: String], live: LiveAllowlist) {
        self.init(keys: keys, serverKeyFiles: serverKeyFiles, allowlist: live.current)
        self.liveAllowlist = live
    }

    static func isTCP(_ endpoint: Endpoint) -> Bool { endpoint.transport == "tcp" }

    /// Whether a socket binding `endpoint` authenticates its clients (so messages on it carry a User-Id).
    public func authenticates(_ endpoint: Endpoint) -> Bool { Self.isTCP(endpoint) }

    /// The access policy for messages arriving on a socket bound to `endpoint`, or `nil` when that
    /// socket does not authenticate (plain ipc) or there is no CURVE at all.
    public static func policy(_ curve: NodeCurve?, bound endpoint: Endpoint) -> AccessPolicy? {
        guard let curve, curve.authenticates(endpoint) else { return nil }
        if let live = curve.liveAllowlist { return AccessPolicy(live: live) }
        guard let allowlist = curve.allowlist else { return nil }
        return AccessPolicy(allowlist: allowlist)
    }

    /// The specs with CURVE options added.
    /// - Throws: ``SecurityError`` `incompleteSetup` when a socket binds tcp without an allowlist, or
    ///   connects to a tcp endpoint whose server key is unknown; key file errors from reading one.
    public func secure(_ specs: [SocketSpec]) throws -> [SocketSpec] {
        try specs.map { spec in
            var secured = spec
            if spec.bind.contains(where: Self.isTCP) {
                guard allowlist != nil else {
                    throw SecurityError(
                        .incompleteSetup, path: spec.bind.map(\.rawValue).joined(separator: ","),
                        "a CURVE server needs an allowlist")
                }
                secured.options += SocketOption.authenticatedCurveServer(keys: keys, domain: CurveAuthenticator.domain)
            }
            let anyTCP = spec.connect.contains(where: Self.isTCP)
            for endpoint in spec.connect {
                if Self.isTCP(endpoint) {
                    guard let file = serverKeyFiles[endpoint] else {
                        throw SecurityError(
                            .incompleteSetup, path: endpoint.rawValue, "no server key known for this tcp endpoint")
                    }
                    let serverKey = try KeyFile.readPublicKey(path: file)
                    secured.connectOptions[endpoint, default: []] += SocketOption.curveClient(keys: keys, serverKey: serverKey)
                } else if anyTCP {
                    // Back to the NULL mechanism for a plain peer of a socket that also speaks CURVE.
                    secured.connectOptions[endpoint, default: []] += [.curveServer(false)]
                }
            }
            return secured
        }
    }

    /// Whether any of `specs` binds tcp, so the process needs a ZAP handler.
    func needsAuthenticator(_ specs: [SocketSpec]) -> Bool {
        specs.contains { $0.bind.contains(where: Self.isTCP) }
    }
}

/// ``withSocketLoop(context:sockets:queueCapacity:_:)`` with the node's CURVE setup applied: the
/// specs are secured, and when a socket binds tcp a ZAP handler checking `curve.allowlist` runs for
/// the whole scope (bound before any socket, stopped after all of them). Without `curve`, exactly
/// `withSocketLoop`.
func withNodeSocketLoop<Result: Sendable>(
    context: ZMQContext,
    sockets specs: [SocketSpec],
    curve: NodeCurve?,
    logger: Logger,
    _ body: (SocketLoop) async throws -> Result
) async throws -> Result {
    guard let curve else { return try await withSocketLoop(context: context, sockets: specs, body) }
    let secured = try curve.secure(specs)
    guard curve.needsAuthenticator(specs), let allowlist = curve.allowlist else {
        return try await withSocketLoop(context: context, sockets: secured, body)
    }
    let authenticator =
        curve.liveAllowlist.map { CurveAuthenticator(live: $0, logger: logger) }
        ?? CurveAuthenticator(allowlist: allowlist, logger: logger)
    logger.info(
        "CURVE on tcp endpoints",
        metadata: [
            "allowlist.keys": "\(allowlist.entries.count)", "key": "\(curve.keys.publicKey)",
            "allowlist.live": "\(curve.liveAllowlist?.path ?? "no")",
        ])
    // The allowlist is reloaded (SIGHUP, file changes) for as long as the sockets are open.
    let watcher = curve.liveAllowlist.map { live in Task { await live.watch(logger: logger) } }
    defer { watcher?.cancel() }
    return try await withZAPHandler(context: context, authenticate: { authenticator.authenticate($0) }) {
        try await withSocketLoop(context: context, sockets: secured, body)
    }
}
