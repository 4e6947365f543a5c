import Synchronization

/// The body of a ``SocketLoop``'s thread: it owns every socket from creation to close.
///
/// - Thread rule: everything here runs on the loop thread only; the object is created there and
///   never escapes it. It talks to the outside through the Sendable ``Mailbox``, ``Wakeup``, the
///   inbound stream continuation and ``LoopShared``.
final class LoopRunner {
    /// Messages received from one socket per poll round before moving on, so a busy socket cannot
    /// starve the others or the outbound queue.
    private static let receiveBatch = 256

    private let sockets: [ZMQSocket]
    private let poller = Poller()
    private let wakeupIndex: Int
    private let mailbox: Mailbox
    private let inbound: AsyncThrowingStream<Delivery, any Error>.Continuation
    private let shared: LoopShared
    /// The message at the head of the queue whose socket would block (head-of-line: nothing behind it
    /// is sent until it goes, which keeps per-socket order).
    private var stalled: Mailbox.Item?
    private let policies: [BlockedSendPolicy]
    private let limits: [Int?]
    /// Sockets not read because their outstanding deliveries reached the limit.
    private var paused: Set<Int> = []

    /// Creates and configures the sockets. On failure every socket made so far is closed.
    /// - Returns: the runner and the endpoints each socket bound, resolved.
    static func make(
        context: ZMQContext,
        specs: [SocketSpec],
        inbound: AsyncThrowingStream<Delivery, any Error>.Continuation,
        shared: LoopShared
    ) throws(ZMQError) -> (LoopRunner, [[Endpoint]]) {
        var sockets: [ZMQSocket] = []
        var endpoints: [[Endpoint]] = []
        do throws(ZMQError) {
            for spec in specs {
                let socket = try ZMQSocket(context: context, kind: spec.kind)
                sockets.append(socket)
                try socket.set(spec.options)
                var bound: [Endpoint] = []
                for endpoint in spec.bind {
                    try socket.bind(endpoint)
                    bound.append(try socket.lastEndpoint)
                }
                for endpoint in spec.connect {
                    try socket.set(spec.connectOptions[endpoint] ?? [])
                    try socket.connect(endpoint)
                }
                endpoints.append(bound)
            }
        } catch {
            for socket in sockets { socket.close() }
            throw error
        }
        let runner = LoopRunner(
            sockets: sockets, policies: specs.map(\.whenBlocked), limits: specs.map(\.inboundLimit), inbound: inbound,
            shared: shared)
        return (runner, endpoints)
    }

    private init(
        sockets: [ZMQSocket],
        policies: [BlockedSendPolicy],
        limits: [Int?],
        inbound: AsyncThrowingStream<Delivery, any Error>.Continuation,
        shared: LoopShared
    ) {
        self.sockets = sockets
        self.policies = policies
        self.limits = limits
        self.mailbox = shared.mailbox
        self.inbound = inbound
        self.shared = shared
        for socket in sockets {
            poller.add(socket, events: socket.kind.canReceive ? .readable : [])
        }
        wakeupIndex = poller.add(fileDescriptor: mailbox.wakeup.fileDescriptor, events: .readable)
    }

    /// Polls until the mailbox is closed or a fatal error; then closes every socket and ends the stream.
    func run() {
        var failure: ZMQError?
        do throws(ZMQError) {
            while !mailbox.isClosed {
                let ready = try poller.poll(timeout: nil)
                for (index, events) in ready {
                    if index == wakeupIndex {
                        mailbox.wakeup.drain()
                        resumeReleased()
                    } else if events.contains(.readable) {
                        try receiveAvailable(from: index)
                    }
                }
                try sendQueued()
            }
        } catch {
            failure = error
        }
        mailbox.close()
        for socket in sockets { socket.close() }
        inbound.finish(throwing: failure)
    }

    private func receiveAvailable(from index: Int) throws(ZMQError) {
        let socket = sockets[index]
        for _ in 0..<Self.receiveBatch {
            if let limit = limits[index] {
                let admitted = shared.outstanding.withLock { counts -> Bool in
                    guard counts[index] < limit else { return false }
                    counts[index] += 1
                    return true
                }
                guard admitted else {
                    paused.insert(index)
                    updateInterest()
                    return
                }
                guard let received = try socket.receiveWithMetadata(.dontWait) else {
                    shared.outstanding.withLock { $0[index] -= 1 }
                    return
                }
                inbound.yield(Delivery(socket: SocketID(index: index), frames: received.0, metadata: received.1))
                continue
            }
            guard let received = try socket.receiveWithMetadata(.dontWait) else { return }
            inbound.yield(Delivery(socket: SocketID(index: index), frames: received.0, metadata: received.1))
        }
    }

    /// Reads paused sockets again once their consumer released deliveries below the limit.
    private func resumeReleased() {
        guard !paused.isEmpty else { return }
        let counts = shared.outstanding.withLock { $0 }
        let resumed = paused.filter { counts[$0] < (limits[$0] ?? .max) }
        guard !resumed.isEmpty else { return }
        paused.subtract(resumed)
        updateInterest()
    }

    /// Sends the stalled message, then queued ones, until the queue is empty or a socket would block.
    private func sendQueued() throws(ZMQError) {
        if let item = stalled {
            guard try trySend(item) else { return }
            stalled = nil
            setWritableInterest(nil)
        }
        while let item = mailbox.pop() {
            if try !trySend(item) {
                stalled = item
                setWritableInterest(item.socket.index)
                return
            }
        }
    }

    /// - Returns: `false` if the socket would block. An unroutable message (ROUTER with
    ///   `routerMandatory` and an unknown peer) is dropped and counted, not fatal.
    private func trySend(_ item: Mailbox.Item) throws(ZMQError) -> Bool {
        do throws(ZMQError) {
            let sent = try sockets[item.socket.index].send(item.frames, mode: .dontWait) == .sent
            if !sent && policies[item.socket.index] == .drop {
                shared.dropped.add(1, ordering: .relaxed)
                return true
            }
            return sent
        } catch where error.code == .hostUnreachable {
            shared.dropped.add(1, ordering: .relaxed)
            return true
        }
    }

    private func setWritableInterest(_ index: Int?) {
        writableInterest = index
        updateInterest()
    }

    /// The socket waited on for writability (the stalled head of the queue), if any.
    private var writableInterest: Int?

    /// Poll readable on every receiving socket that is not paused, writable on the stalled one.
    private func updateInterest() {
        for (position, socket) in sockets.enumerated() {
            var events: PollEvents = socket.kind.canReceive && !paused.contains(position) ? .readable : []
            if position == writableInterest { events.insert(.writable) }
            poller.setEvents(events, at: position)
        }
    }
}
