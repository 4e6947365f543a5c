import ThawZMQ

/// Replies from one request socket, awaited one at a time with a timeout.
typealias DeliveryQueue = TimedQueue<Delivery>

/// Values pushed by one task and awaited by another, one at a time, each wait with a timeout.
///
/// An `AsyncStream` cannot be awaited with a timeout (cancelling `next()` ends the stream), so the
/// node's event loop pushes replies here and a requester waits on a continuation that either a reply
/// or a timer resumes, whichever comes first.
///
/// The buffer is bounded (``capacity``): a peer that sends replies nobody waits for cannot grow it
/// without limit; the oldest are dropped and counted, and ``drain()`` reports them.
package actor TimedQueue<Element: Sendable> {
    /// Most values kept while nobody waits; older ones are dropped.
    let capacity: Int
    private var buffer: [Element] = []
    private var dropped = 0
    private var waiter: CheckedContinuation<Element?, Never>?
    private var waiterID = 0
    private var finished = false

    package init(capacity: Int = 64) { self.capacity = max(capacity, 1) }

    package func push(_ delivery: Element) {
        if let waiter {
            self.waiter = nil
            waiter.resume(returning: delivery)
        } else {
            if buffer.count >= capacity {
                buffer.removeFirst()
                dropped += 1
            }
            buffer.append(delivery)
        }
    }

    func finish() {
        finished = true
        waiter?.resume(returning: nil)
        waiter = nil
    }

    /// Drops replies that arrived while nobody waited (after their requester gave up, or never asked
    /// for) and returns how many there were, overflow included.
    @discardableResult
    func drain() -> Int {
        let count = buffer.count + dropped
        buffer.removeAll()
        dropped = 0
        return count
    }

    /// The next reply, or `nil` after `timeout` or once the loop has stopped.
    package func next(timeout: Duration) async -> Element? {
        if !buffer.isEmpty { return buffer.removeFirst() }
        if finished { return nil }
        waiterID += 1
        let id = waiterID
        return await withCheckedContinuation { continuation in
            waiter = continuation
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(id)
            }
        }
    }

    private func expire(_ id: Int) {
        guard waiterID == id, let waiter else { return }
        self.waiter = nil
        waiter.resume(returning: nil)
    }
}
