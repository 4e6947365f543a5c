import Logging
import ThawWire
import ThawZMQ

/// A registry request a phone has in flight.
struct InFlightRequest {
    enum Purpose {
        case head(HeadRequest)
        case sync(stamp: ActivationStamp, sampleIds: [UInt64], collectOnly: Bool)
    }

    var phone: Int
    var purpose: Purpose
    var deadline: ContinuousClock.Instant
}

extension DeviceFleet {
    /// Most registry requests the fleet has outstanding at once (head pulls and freeze syncs together).
    static let maximumInFlight = 64

    /// Sends `message` on the registry DEALER and remembers it under its envelope sequence; the reply
    /// (matched by `in_reply_to`, or by kind and user/device from a registry that does not echo it) is
    /// handled by ``replyArrived(_:)``, a missing one by ``expireRequests(now:)``.
    mutating func issue(_ message: ThawMessage, for phone: Int, purpose: InFlightRequest.Purpose) async throws {
        let metadata = stamper.next()
        let frames = WireBridge.frames(try WireCodec.encode(message, metadata: metadata))
        inFlight[metadata.sequence] = InFlightRequest(
            phone: phone, purpose: purpose, deadline: ContinuousClock.now + registry.timeout)
        try await loop.send(frames, on: registry.dealer)
    }

    /// The request `reply` answers: by the id it echoes, else the oldest of the matching kind for the
    /// same user (head pulls) or device (freeze syncs); a DEALER gets one peer's answers in order.
    private func request(answeredBy reply: DecodedMessage) -> UInt64? {
        // By key, not by value: reading `inFlight[seq]` copies the request (its strings retained).
        if reply.metadata.inReplyTo != 0, inFlight.index(forKey: reply.metadata.inReplyTo) != nil {
            return reply.metadata.inReplyTo
        }
        let candidates: [UInt64]
        switch reply.message {
        case .errorReply(let refusal):
            return inFlight.index(forKey: refusal.inReplyToSequence) != nil ? refusal.inReplyToSequence : nil
        case .headReply(let head):
            candidates = inFlight.compactMap { seq, pending in
                if case .head = pending.purpose, phones[pending.phone].user.rawValue == head.userID { seq } else { nil }
            }
        case .freezeSyncReply(let sync):
            candidates = inFlight.compactMap { seq, pending in
                if case .sync = pending.purpose, phones[pending.phone].device.rawValue == sync.deviceID { seq } else { nil }
            }
        default:
            return nil
        }
        return candidates.min()
    }

    /// A registry reply: hands it to the phone that asked, or refuses it (a late answer to a request
    /// that timed out, a reply nobody asked for).
    mutating func replyArrived(_ reply: DecodedMessage, bytes: Int = 0) async throws {
        guard let seq = request(answeredBy: reply), let pending = inFlight.removeValue(forKey: seq) else {
            refusals.refuse(
                on: "dealer", reason: InputViolation.Reason.unsolicitedReply.rawValue,
                detail: "\(reply.message.kind) answers no outstanding request")
            return
        }
        let index = pending.phone
        catchUp(index)
        switch (pending.purpose, reply.message) {
        case (.head(let request), .headReply(let head)):
            pulling.remove(index)
            try await perform(try await headReplyArrived(head, phone: index, request: request, bytes: bytes), phone: index)
        case (.sync(let stamp, let sampleIds, let collectOnly), .freezeSyncReply(let sync)):
            syncing.remove(index)
            try await perform(
                freezeSyncArrived(sync, phone: index, stamp: stamp, sampleIds: sampleIds, collectOnly: collectOnly),
                phone: index)
        case (_, .errorReply(let refusal)):
            try await requestFailed(pending, NodeError(.refused, "the registry refused: \(refusal.message)"))
        default:
            refusals.refuse(
                on: "dealer", reason: InputViolation.Reason.unsolicitedReply.rawValue,
                detail: "\(reply.message.kind) does not answer the outstanding request")
            try await requestFailed(pending, NodeError(.refused, "unexpected \(reply.message.kind)"))
        }
    }

    /// Requests whose reply did not come in time fail (a late reply is refused when it comes).
    mutating func expireRequests(now: ContinuousClock.Instant) async throws {
        // Called before every slice: every request gets the same timeout when it is issued, so the
        // oldest (smallest envelope sequence) expires first, and looking at it alone spares copying
        // every request (their strings retained) hundreds of times a second.
        guard let oldest = inFlight.keys.min(), let first = inFlight[oldest], first.deadline <= now else { return }
        // Oldest first, and never past a waiting broadcast: when thousands of requests expire together
        // (a registry too slow for a burst of freeze syncs), each failure is a phone's unit of work, and
        // the rest expire before the next slice.
        let expired = inFlight.filter { $0.value.deadline <= now }.keys.sorted()
        for seq in expired {
            if inbox.controlPending { return }
            guard let pending = inFlight.removeValue(forKey: seq) else { continue }
            try await requestFailed(pending, NodeError(.timeout, "no reply from the registry within \(registry.timeout)"))
        }
    }

    private mutating func requestFailed(_ pending: InFlightRequest, _ error: NodeError) async throws {
        let index = pending.phone
        switch pending.purpose {
        case .head:
            pulling.remove(index)
            let backoff = min((registryBackoff ?? .milliseconds(500)) * 2, .seconds(30))
            registryBackoff = backoff
            registryRetryAt = ContinuousClock.now + backoff
            logger.warning(
                "head pull failed; backing off",
                metadata: ["device": "\(phones[index].device)", "error": "\(error)", "backoff": "\(backoff)"])
        case .sync(let stamp, let sampleIds, let collectOnly):
            syncing.remove(index)
            try await perform(
                freezeSyncFailed(phone: index, stamp: stamp, sampleIds: sampleIds, collectOnly: collectOnly, error),
                phone: index)
        }
    }
}
