import ThawZMQ

#if canImport(Glibc)
import Glibc
#endif

/// A per-test ZMQ context that tracks sockets (libzmq's `testutil_unity` and pyzmq's base test case).
///
/// - Thread rule: created by ``withTestContext(_:)`` on a dedicated thread, where the test body runs
///   and every socket is used; blocking receives therefore never stall the cooperative pool.
/// - Ownership: the context owns the sockets it made; the test should close them. Leftovers are
///   closed with linger 0 at the end and reported as a failure.
public final class TestContext {
    /// The libzmq context.
    public let context: ZMQContext
    /// Temporary `ipc://` endpoints, removed at the end.
    public let endpoints: TemporaryEndpoints
    private var tracked: [ZMQSocket] = []

    init(context: ZMQContext, endpoints: TemporaryEndpoints) {
        self.context = context
        self.endpoints = endpoints
    }

    /// Creates a tracked socket with `options` applied.
    /// - Throws: ``ZMQError``.
    public func socket(_ kind: SocketKind, options: [SocketOption] = []) throws -> ZMQSocket {
        let socket = try ZMQSocket(context: context, kind: kind)
        tracked.append(socket)
        try socket.set(options)
        return socket
    }

    /// Receives a whole message, waiting at most `timeout`.
    /// - Throws: ``TestKitError`` when nothing arrives in time, ``ZMQError`` on failure.
    public func receive(_ socket: ZMQSocket, timeout: Duration = .seconds(5)) throws -> [Frame] {
        guard let frames = try receiveIfAny(socket, timeout: timeout) else {
            throw TestKitError("no message on \(socket.kind) socket within \(timeout)")
        }
        return frames
    }

    /// Receives a whole message if one arrives within `timeout`; `nil` otherwise (for "nothing
    /// arrives" checks).
    public func receiveIfAny(_ socket: ZMQSocket, timeout: Duration) throws -> [Frame]? {
        let poller = Poller()
        poller.add(socket, events: .readable)
        guard try !poller.poll(timeout: timeout).isEmpty else { return nil }
        return try socket.receive(.dontWait)
    }

    /// Closes leftovers with linger 0; returns their kinds.
    func closeLeftovers() -> [SocketKind] {
        let open = tracked.filter { !$0.isClosed }
        for socket in open { socket.close() }
        tracked = []
        return open.map(\.kind)
    }
}

@available(*, unavailable, message: "TestContext holds sockets, which are bound to one thread")
extension TestContext: Sendable {}

/// How long context termination may take before the test fails instead of hanging.
public let contextTerminationLimit: Duration = .seconds(10)

/// Runs a synchronous test body with a fresh tracked context, on a dedicated thread.
///
/// The body stays in the calling test's task (its expectations are attributed to the test), but runs
/// under a ``DedicatedThreadExecutor`` preference, so its bounded blocking receives occupy that thread,
/// not the cooperative pool. At the end it closes leftover sockets with linger 0 and throws if there
/// were any, terminates the context on a helper thread and throws if that exceeds
/// ``contextTerminationLimit`` (reporting instead of hanging), and removes the temporary endpoints.
/// - Throws: what `body` throws, or ``TestKitError`` for leaked sockets or a hung termination.
public func withTestContext<Result: Sendable>(
    _ body: (TestContext) throws -> Result
) async throws -> Result {
    let endpoints = try TemporaryEndpoints()
    defer { endpoints.removeAll() }
    let context = try ZMQContext()
    let executor = DedicatedThreadExecutor()
    defer { executor.shutdown() }
    let outcome: Swift.Result<Result, any Error>
    let leaked: [SocketKind]
    (outcome, leaked) = await withTaskExecutorPreference(executor) { () async -> (Swift.Result<Result, any Error>, [SocketKind]) in
        let testContext = TestContext(context: context, endpoints: endpoints)
        let outcome = Swift.Result { try body(testContext) }
        return (outcome, testContext.closeLeftovers())
    }
    try await terminate(context)
    let value = try outcome.get()
    guard leaked.isEmpty else {
        throw TestKitError("test left \(leaked.count) socket(s) open: \(leaked.map(\.rawValue))")
    }
    return value
}

/// Runs an async test body (typically around ``ThawZMQ/withSocketLoop(context:sockets:queueCapacity:_:)``)
/// with a fresh context and temporary endpoints; terminates the context with a deadline afterwards.
/// - Throws: what `body` throws, or ``TestKitError`` if termination hangs (a loop or socket left open).
public func withAsyncTestContext<Result: Sendable>(
    _ body: (ZMQContext, TemporaryEndpoints) async throws -> Result
) async throws -> Result {
    let endpoints = try TemporaryEndpoints()
    defer { endpoints.removeAll() }
    let context = try ZMQContext()
    let result: Result
    do {
        result = try await body(context, endpoints)
    } catch {
        try? await terminate(context)
        throw error
    }
    try await terminate(context)
    return result
}

/// Terminates `context` on a helper thread; throws if it takes longer than ``contextTerminationLimit``
/// (the helper thread is then left blocked, and the test reports it instead of hanging).
private func terminate(_ context: ZMQContext) async throws {
    let result = try await withDeadline(contextTerminationLimit, "zmq_ctx_term (a socket is still open)") {
        await onDedicatedThread { () -> Swift.Result<Void, ZMQError> in
            do throws(ZMQError) {
                try context.terminateBlocking()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
    }
    try result.get()
}

/// Runs blocking `work` on a new detached POSIX thread and suspends until it returns.
private func onDedicatedThread<Value: Sendable>(_ work: @escaping @Sendable () -> Value) async -> Value {
    return await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
        let box = Unmanaged.passRetained(ThreadBody { continuation.resume(returning: work()) }).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { argument in
                Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue().run()
                return nil
            }, box)
        precondition(created == 0, "pthread_create failed with \(created)")
        pthread_detach(thread)
    }
}

/// The closure a dedicated thread runs, boxed to pass through `pthread_create`'s context pointer.
private final class ThreadBody {
    let run: () -> Void
    init(run: @escaping () -> Void) { self.run = run }
}
