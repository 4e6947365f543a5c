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
        let runner = LoopRunner(sockets: sockets, inbound: inbound, shared: shared)
        return (runner, endpoints)
    }

    private init(
        sockets: [ZMQSocket],
        inbound: AsyncThrowingStream<Delivery, any Error>.Continuation,
        shared: LoopShared
    ) {
        self.sockets = sockets
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
            guard let received = try socket.receiveWithMetadata(.dontWait) else { return }
            inbound.yield(Delivery(socket: SocketID(index: index), frames: received.0, metadata: received.1))
        }
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
            return try sockets[item.socket.index].send(item.frames, mode: .dontWait) == .sent
        } catch where error.code == .hostUnreachable {
            shared.dropped.add(1, ordering: .relaxed)
            return true
        }
    }

    private func setWritableInterest(_ index: Int?) {
        for (position, socket) in sockets.enumerated() {
            var events: PollEvents = socket.kind.canReceive ? .readable : []
            if position == index { events.insert(.writable) }
            poller.setEvents(events, at: position)
        }
    }
}
