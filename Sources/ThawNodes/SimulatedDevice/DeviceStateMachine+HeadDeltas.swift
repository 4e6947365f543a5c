import ThawNN

// Head downloads that cost what changed (docs/PROTOCOL.md, "Head deltas"): the phone decides whether a
// pull may be answered with a delta, whether a delta applies to the head it runs, and falls back to the
// full head when a delta is refused. Applying the delta and checking its hash is the glue's work (on the
// compute queue); the decisions are here.
extension DeviceStateMachine {
    /// Whether the next head request may accept a delta: deltas are configured, the phone runs a head
    /// (the base of the delta), and no delta was refused since the last head it received.
    public var acceptsHeadDelta: Bool {
        configuration.headDeltas && head != nil && !fullHeadNeeded
    }

    /// Whether a delta against `baseHash` applies to the head in use. Anything else is refused
    /// (``headDeltaRefused(now:)``): a delta against another head would give a head nobody vouched for.
    public func headDeltaApplies(toBase baseHash: String) -> Bool {
        guard let head, !baseHash.isEmpty else { return false }
        return head.hash == baseHash.lowercased()
    }

    /// A delta was refused (another base, corrupt, wrong length, or a result that does not hash to the
    /// announced `head_hash`): the running head stays, and the phone asks at once for the full head.
    public mutating func headDeltaRefused(now: Timestamp) -> [DeviceAction] {
        statistics.headDeltasRefused += 1
        fullHeadNeeded = true
        lastHeadRequest = now
        return [.requestHead(haveHash: head?.hash)]
    }

    /// A delta was applied and its result hashed to `head_hash`; the head then goes through
    /// ``headReceived(_:evidence:)`` like a full one.
    public mutating func headDeltaApplied() {
        statistics.headDeltasApplied += 1
    }
}
