import Logging
import Synchronization
import ThawZMQ

/// The cloud side's ZAP decision: a CURVE client is let in when its public key is in the allowlist,
/// and its connection is then labelled with the key's principal (the ZAP User-Id).
///
/// Runs on the ZAP handler thread (``withZAPHandler(context:authenticate:_:)``); Sendable because
/// its only mutable state is atomic counters.
public final class CurveAuthenticator: Sendable {
    /// The ZAP domain every Thaw CURVE server socket uses.
    public static let domain = "thaw"

    private let fixed: Allowlist?
    private let live: LiveAllowlist?
    /// The list the next handshake is checked against (reloaded lists apply from the next handshake on).
    public var allowlist: Allowlist { live?.current ?? fixed ?? Allowlist.empty }
    private let logger: Logger
    private let acceptedCount = Atomic<Int>(0)
    private let refusedCount = Atomic<Int>(0)

    public init(allowlist: Allowlist, logger: Logger) {
        self.fixed = allowlist
        self.live = nil
        self.logger = logger
    }

    /// An authenticator that follows `live` as it is reloaded.
    public init(live: LiveAllowlist, logger: Logger) {
        self.fixed = nil
        self.live = live
        self.logger = logger
    }

    /// Handshakes let in so far.
    public var accepted: Int { acceptedCount.load(ordering: .relaxed) }
    /// Handshakes refused so far (unlisted key, wrong mechanism).
    public var refused: Int { refusedCount.load(ordering: .relaxed) }

    /// Decides one ZAP request.
    public func authenticate(_ request: ZAPRequest) -> ZAPReply {
        guard request.mechanism == "CURVE", let key = request.curvePublicKey else {
            return refuse(request, reason: "mechanism \(request.mechanism) is not allowed (CURVE only)", key: nil)
        }
        guard let entry = allowlist.entry(forKey: key) else {
            return refuse(request, reason: "public key not in the allowlist", key: key)
        }
        acceptedCount.add(1, ordering: .relaxed)
        logger.debug(
            "CURVE client accepted",
            metadata: ["peer.key": "\(key)", "peer.principal": "\(entry.principal)", "peer.address": "\(request.address)"])
        return .accept(request, as: entry.principal.userID)
    }

    private func refuse(_ request: ZAPRequest, reason: String, key: String?) -> ZAPReply {
        let count = refusedCount.add(1, ordering: .relaxed).newValue
        logger.warning(
            "refused a CURVE client",
            metadata: [
                "reason": "\(reason)", "peer.key": "\(key ?? "-")", "peer.address": "\(request.address)",
                "refused.total": "\(count)",
            ])
        return .refuse(request, because: reason)
    }
}
