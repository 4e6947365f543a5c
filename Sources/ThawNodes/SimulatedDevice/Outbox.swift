/// Feature batches a device has sent but the registry has not yet reported durable.
///
/// Semantics are at-least-once: each batch gets the next per-device sequence number (monotonic; the
/// next value is persisted with the cache so a restart never reuses one) and stays here until an ack for
/// its sequence arrives. A batch not acked within its retry delay is re-sent under the same sequence (the
/// registry deduplicates by device and sequence), and the delay doubles on each attempt up to
/// ``RetryPolicy/maximumDelay``. Acks for unknown or already-acked sequences are ignored. At most
/// ``capacity`` batches are outstanding; a full outbox makes the flush policy wait.
public struct Outbox: Sendable {
    public struct RetryPolicy: Sendable, Equatable {
        public var initialDelay: Duration
        public var maximumDelay: Duration

        public init(initialDelay: Duration = .seconds(5), maximumDelay: Duration = .seconds(300)) {
            precondition(
                initialDelay > .zero && maximumDelay >= initialDelay, "retry delays must be positive and ordered")
            self.initialDelay = initialDelay
            self.maximumDelay = maximumDelay
        }

        /// The wait after the `attempt`-th send (1-based): initial × 2^(attempt−1), capped.
        public func delay(afterAttempt attempt: Int) -> Duration {
            var delay = initialDelay
            for _ in 1..<max(attempt, 1) {
                delay = delay * 2
                if delay >= maximumDelay { return maximumDelay }
            }
            return min(delay, maximumDelay)
        }
    }

    /// One outstanding batch: which samples it carried and when to retry.
    public struct Batch: Sendable, Equatable {
        public var seq: UInt64
        public var sampleIds: [UInt64]
        public var stamp: ActivationStamp
        public var attempts: Int
        public var nextRetryAt: Timestamp
    }

    public let capacity: Int
    public let retry: RetryPolicy
    /// The sequence number the next batch will get.
    public private(set) var nextSequence: UInt64
    private var batches: [UInt64: Batch] = [:]

    /// - Parameter nextSequence: restored from the device snapshot; 1 on a first start.
    public init(capacity: Int, retry: RetryPolicy = RetryPolicy(), nextSequence: UInt64 = 1) {
        precondition(capacity > 0 && nextSequence > 0, "outbox capacity and first sequence must be positive")
        self.capacity = capacity
        self.retry = retry
        self.nextSequence = nextSequence
    }

    public var isFull: Bool { batches.count >= capacity }
    public var count: Int { batches.count }
    public subscript(seq: UInt64) -> Batch? { batches[seq] }
    /// Outstanding batches in sequence order.
    public var outstanding: [Batch] { batches.values.sorted { $0.seq < $1.seq } }

    /// Records a first send of `sampleIds` at `now` and returns its new sequence number.
    /// - Precondition: the outbox is not full (the flush policy checks ``isFull``).
    public mutating func enqueue(sampleIds: [UInt64], stamp: ActivationStamp, now: Timestamp) -> UInt64 {
        precondition(!isFull, "enqueue on a full outbox; the flush policy must wait")
        let seq = nextSequence
        nextSequence += 1
        batches[seq] = Batch(
            seq: seq, sampleIds: sampleIds, stamp: stamp, attempts: 1,
            nextRetryAt: now.advanced(by: retry.delay(afterAttempt: 1)))
        return seq
    }

    /// Puts back a batch that was outstanding when the device stopped (restored from its snapshot), due
    /// for a re-send at once under its own sequence number, so the registry recognises it as a duplicate
    /// instead of storing its samples a second time. May exceed ``capacity`` (then ``isFull`` holds
    /// until acks arrive).
    /// - Precondition: `seq` is below ``nextSequence`` and not outstanding.
    public mutating func restore(seq: UInt64, sampleIds: [UInt64], stamp: ActivationStamp) {
        precondition(seq < nextSequence && batches[seq] == nil, "restored batch \(seq) must be an old, absent sequence")
        batches[seq] = Batch(seq: seq, sampleIds: sampleIds, stamp: stamp, attempts: 1, nextRetryAt: .zero)
    }

    /// Removes acknowledged batches; returns those that were outstanding (duplicates and unknown
    /// sequences are ignored, which is what makes redelivered acks harmless).
    public mutating func acknowledge(_ seqs: some Sequence<UInt64>) -> [Batch] {
        seqs.compactMap { batches.removeValue(forKey: $0) }
    }

    /// Removes one batch without an ack (rejected, or abandoned because its stamps went stale).
    @discardableResult
    public mutating func remove(_ seq: UInt64) -> Batch? { batches.removeValue(forKey: seq) }

    /// Re-stamps an outstanding batch after a deeper freeze move: the same sequence and samples, now
    /// with activations advanced to `stamp`. The registry stores a `(device, seq)` once whatever its
    /// stamps, so whichever copy arrives first counts and the cloud advances it if it was the old one.
    public mutating func restamp(_ seq: UInt64, to stamp: ActivationStamp) {
        batches[seq]?.stamp = stamp
    }

    /// Batches whose retry time has come, in sequence order; each is counted as re-sent now and gets the
    /// next, doubled delay.
    public mutating func takeDueRetries(now: Timestamp) -> [Batch] {
        // Asked at every tick of every phone (50,000 times a second at 10,000 phones): most ticks find
        // nothing due, and that answer needs no sorted copy of the outstanding batches.
        guard batches.values.contains(where: { $0.nextRetryAt <= now }) else { return [] }
        var due: [Batch] = []
        for var batch in outstanding where batch.nextRetryAt <= now {
            batch.attempts += 1
            batch.nextRetryAt = now.advanced(by: retry.delay(afterAttempt: batch.attempts))
            batches[batch.seq] = batch
            due.append(batch)
        }
        return due
    }
}
