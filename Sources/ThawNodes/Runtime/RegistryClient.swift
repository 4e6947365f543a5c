import Logging
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// Requests to the registry over the node's DEALER, one at a time, each with a timeout.
///
/// A reply is matched by its envelope's `in_reply_to`, which a registry sets to the request's
/// `sequence` (docs/PROTOCOL.md): a reply that names another request (a late answer to one that timed
/// out) is skipped. A registry from before request ids leaves `in_reply_to` at 0; then the caller's
/// `accept` checks that a reply answers *this* request (kind, user, version). Anything skipped (a late
/// answer, a reply nobody asked for, bytes that do not decode) is counted in `refusals` under the
/// socket name `dealer`. The wait is bounded by the timeout either way.
///
/// Nodes that keep many requests in flight (the trainer worker) match replies to ids in their state
/// machine instead and do not use this client.
struct RegistryClient: Sendable {
    let loop: SocketLoop
    let dealer: SocketID
    let replies: DeliveryQueue
    var refusals: InputRefusals? = nil
    var timeout: Duration = .seconds(10)

    /// Sends `request` and returns the first reply that `accept` takes.
    /// - Throws: ``NodeError`` `.timeout` when no acceptable reply came in time; `.refused` on an `ErrorReply`.
    func request(
        _ request: ThawMessage, stamper: inout EnvelopeStamper, accept: (ThawMessage) -> Bool
    ) async throws -> ThawMessage {
        let stray = await replies.drain()
        if stray > 0 {
            refusals?.refuse(
                on: "dealer", reason: InputViolation.Reason.unsolicitedReply.rawValue,
                detail: "\(stray) replies arrived while no request was outstanding")
        }
        let metadata = stamper.next()
        let id = metadata.sequence
        try await loop.send(WireBridge.frames(try WireCodec.encode(request, metadata: metadata)), on: dealer)
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero, let delivery = await replies.next(timeout: remaining) else {
                throw NodeError(.timeout, "no reply from the registry to \(request.kind) within \(timeout)")
            }
            let decoded: DecodedMessage
            do {
                decoded = try WireCodec.decode(delivery.frames.map(\.bytes))
            } catch {
                refusals?.refuse(on: "dealer", error)
                continue
            }
            var answers = decoded.metadata.inReplyTo
            if answers == 0, case .errorReply(let refusal) = decoded.message { answers = refusal.inReplyToSequence }
            if answers != 0 && answers != id {
                refusals?.refuse(
                    on: "dealer", reason: InputViolation.Reason.unsolicitedReply.rawValue,
                    detail: "\(decoded.message.kind) answers request \(answers), not the outstanding \(request.kind) (\(id))")
                continue
            }
            if case .errorReply(let refusal) = decoded.message {
                throw NodeError(.refused, "the registry refused \(request.kind): \(refusal.message)")
            }
            if answers == id || accept(decoded.message) { return decoded.message }
            refusals?.refuse(
                on: "dealer", reason: InputViolation.Reason.unsolicitedReply.rawValue,
                detail: "\(decoded.message.kind) does not answer the outstanding \(request.kind)")
        }
    }
}

extension RegistryClient {
    /// Fetches base model `version` from the registry and builds it; the checkpoint's own checksum and
    /// validation (ThawModel) guard what arrives.
    /// - Throws: ``NodeError`` `.badModel` when the registry does not have it, or a ``ModelFileError``.
    func baseModel(_ version: ModelVersion, stamper: inout EnvelopeStamper) async throws -> Model {
        let reply = try await request(
            .baseModelRequest(BaseModelRequest(modelVersion: version.number)), stamper: &stamper
        ) { if case .baseModelReply(let answer) = $0 { answer.modelVersion == version.number } else { false } }
        guard case .baseModelReply(let answer) = reply, answer.status == .ok, let bytes = answer.checkpoint else {
            throw NodeError(.badModel, "the registry has no base model \(version)")
        }
        return try ModelCheckpoint.decode(bytes).makeModel()
    }
}

/// A failure of a node's conversation with a peer.
public struct NodeError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        let name: String
        public static let timeout = Code(name: "timeout")
        public static let refused = Code(name: "refused")
        public static let badModel = Code(name: "badModel")
        public static let badConfiguration = Code(name: "badConfiguration")
    }

    public let code: Code
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.name): \(detail)" }
}
