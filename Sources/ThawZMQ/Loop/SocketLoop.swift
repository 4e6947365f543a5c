import Synchronization

/// A Sendable handle to sockets that live on one dedicated thread (czmq's actor, in Swift types).
///
/// - Thread rule: the handle may be used from any task; it never touches a socket. ``send(_:on:)``
///   appends to a bounded, `Mutex`-guarded queue and wakes the loop thread through an eventfd;
///   received messages arrive on ``inbound``. Only the loop thread creates, polls and closes sockets,
///   so nothing blocking ever runs on the cooperative pool.
/// - Ownership: ``withSocketLoop(context:sockets:queueCapacity:_:)`` owns the thread. When its body
///   returns, throws or is cancelled, the loop stops: queued messages are dropped, sockets close with
///   linger 0 (unless their spec set a linger), ``inbound`` finishes, and the scope joins the thread
///   before returning. A handle used after its scope throws ``ZMQError/Code/loopStopped``.
/// - Back-pressure: the queue holds `queueCapacity` messages. When it is full, ``send(_:on:)``
///   **suspends** until the thread takes a message; ``trySend(_:on:)`` returns `false` instead. A
///   socket that would block (high-water mark reached, no peer for PUSH/DEALER) stalls the queue
///   head until it becomes writable, so order is kept and the stall propagates back to senders.
/// - Inbound is buffered without bound unless a socket's spec sets an ``SocketSpec/inboundLimit``;
///   consume it promptly (one task doing `for try await`), and release limited deliveries when done.
public struct SocketLoop: Sendable {
    /// One id per ``SocketSpec``, in order.
    public let sockets: [SocketID]
    /// Received messages; finishes when the loop stops, and throws if a fatal ``ZMQError`` ended it.
    public let inbound: AsyncThrowingStream<Delivery, any Error>
    private let bound: [[Endpoint]]
    private let shared: LoopShared

    init(bound: [[Endpoint]], inbound: AsyncThrowingStream<Delivery, any Error>, shared: LoopShared) {
        self.sockets = bound.indices.map(SocketID.init(index:))
        self.bound = bound
        self.inbound = inbound
        self.shared = shared
    }

    /// The endpoints socket `id` bound, with wildcard ports resolved (`tcp://127.0.0.1:40123`).
    public func boundEndpoints(of id: SocketID) -> [Endpoint] {
        bound[id.index]
    }

    /// Queues `frames` for socket `id`, suspending while the queue is full.
    /// - Throws: ``ZMQError/Code/loopStopped`` after the loop stopped; `CancellationError` if the task
    ///   is cancelled while waiting for room.
    public func send(_ frames: [Frame], on id: SocketID) async throws {
        precondition(sockets.indices.contains(id.index), "\(id) is not a socket of this loop")
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        try await shared.mailbox.enqueue(frames, on: id)
    }

    /// Queues `frames` for socket `id` without waiting.
    /// - Returns: `false` when the queue is full (nothing was queued).
    /// - Throws: ``ZMQError/Code/loopStopped`` after the loop stopped.
    public func trySend(_ frames: [Frame], on id: SocketID) throws(ZMQError) -> Bool {
        precondition(sockets.indices.contains(id.index), "\(id) is not a socket of this loop")
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        return try shared.mailbox.tryEnqueue(frames, on: id)
    }

    /// Marks a delivery from a socket with an ``SocketSpec/inboundLimit`` as handled, making room for
    /// the next one (the loop resumes reading the socket if it had paused). Releasing a delivery of a
    /// socket without a limit does nothing.
    public func release(_ delivery: Delivery) {
        let resume = shared.outstanding.withLock { counts -> Bool in
            guard counts[delivery.socket.index] > 0 else { return false }
            counts[delivery.socket.index] -= 1
            return true
        }
        if resume { shared.mailbox.wakeup.signal() }
    }

    /// Messages dropped because a ROUTER (with `routerMandatory`) had no such peer, or because their
    /// socket would block and its spec said ``BlockedSendPolicy/drop``.
    public var droppedMessages: Int {
        shared.dropped.load(ordering: .relaxed)
    }
}

/// Runs `body` with sockets created from `specs` on a dedicated thread, then stops and joins it.
///
/// Start is synchronous: the sockets exist, are bound (wildcards resolved) and connected before
/// `body` runs. Stop is synchronous: the thread has closed every socket and exited when this returns.
/// - Parameters:
///   - context: the context; terminate it only after this returns.
///   - specs: the sockets; ``SocketLoop/sockets`` holds one id per spec, in order.
///   - queueCapacity: outbound messages queued before ``SocketLoop/send(_:on:)`` suspends.
/// - Throws: ``ZMQError`` if a socket cannot be created, configured, bound or connected (every
///   socket made so far is closed first), or what `body` throws.
public func withSocketLoop<Result: Sendable>(
    context: ZMQContext,
    sockets specs: [SocketSpec],
    queueCapacity: Int = 1024,
    _ body: (SocketLoop) async throws -> Result
) async throws -> Result {
    let wakeup = try Wakeup()
    defer { wakeup.close() }
    let shared = LoopShared(mailbox: Mailbox(capacity: queueCapacity, wakeup: wakeup), sockets: specs.count)
    let (inbound, continuation) = AsyncThrowingStream<Delivery, any Error>.makeStream()

    let thread = Mutex<OwnedThread?>(nil)
    let startup: Swift.Result<[[Endpoint]], ZMQError> = await withCheckedContinuation { ready in
        let started = OwnedThread.start(name: "zmq-loop") {
            defer { shared.markExited() }
            let runner: LoopRunner
            do throws(ZMQError) {
                let (made, endpoints) = try LoopRunner.make(
                    context: context, specs: specs, inbound: continuation, shared: shared)
                runner = made
                ready.resume(returning: .success(endpoints))
            } catch {
                shared.mailbox.close()
                continuation.finish(throwing: error)
                ready.resume(returning: .failure(error))
                return
            }
            runner.run()
        }
        thread.withLock { $0 = started }
    }
    guard let owned = thread.withLock({ $0 }) else { preconditionFailure("loop thread not recorded") }

    func stopAndJoin() async {
        shared.mailbox.close()
        wakeup.signal()
        await shared.waitForExit()
        // The thread's last action was markExited(), so this join waits only for its return.
        owned.join()
    }

    let endpoints: [[Endpoint]]
    switch startup {
    case .success(let value): endpoints = value
    case .failure(let error):
        await stopAndJoin()
        throw error
    }
    let loop = SocketLoop(bound: endpoints, inbound: inbound, shared: shared)
    do {
        let result = try await body(loop)
        await stopAndJoin()
        return result
    } catch {
        await stopAndJoin()
        throw error
    }
}
