import CLibZMQ

/// A libzmq context: the I/O threads and the registry of sockets.
///
/// - Thread rule: any thread. libzmq documents contexts as thread-safe ("a ØMQ context is thread
///   safe and may be shared among as many application threads as necessary"), hence the
///   `@unchecked Sendable`: the only stored state is the C pointer in a `let`.
/// - Ownership: the creator terminates it, once, after every socket is closed. ``withZMQContext(_:)``
///   does this for you. `deinit` never terminates: `zmq_ctx_term` blocks while any socket is open,
///   which would hang whatever thread drops the last reference. A context that is never terminated
///   leaks its I/O thread until exit, which is the lesser evil.
public final class ZMQContext: @unchecked Sendable {
    // Safe to share: libzmq contexts are thread-safe and the pointer never changes.
    let handle: UnsafeMutableRawPointer

    /// Creates a context with libzmq's defaults (one I/O thread).
    /// - Throws: ``ZMQError`` when libzmq cannot create it (e.g. out of file descriptors).
    public init() throws(ZMQError) {
        handle = try ZMQCall.pointer("zmq_ctx_new") { zmq_ctx_new() }
    }

    /// Terminates the context. Blocks until every socket of it is closed; call it from a dedicated
    /// thread or at the end of ``withZMQContext(_:)``, never from the cooperative pool.
    ///
    /// Blocking calls on this context's sockets in other threads return ``ZMQError/Code/contextTerminated``.
    /// - Throws: ``ZMQError`` if libzmq refuses (EFAULT traps: a second termination is a bug).
    public func terminateBlocking() throws(ZMQError) {
        _ = try ZMQCall.run("zmq_ctx_term") { zmq_ctx_term(handle) }
    }

    /// Makes blocking calls on this context's sockets fail with `contextTerminated` without
    /// destroying it. Useful before joining threads that might sit in a blocking call.
    public func shutdown() throws(ZMQError) {
        _ = try ZMQCall.run("zmq_ctx_shutdown") { zmq_ctx_shutdown(handle) }
    }
}

/// Runs `body` with a fresh context and terminates it afterwards, off the cooperative pool.
///
/// Every socket and ``SocketLoop`` made from the context must be closed or stopped when `body`
/// returns; otherwise termination blocks (on a dedicated thread, not the pool) until they are.
/// - Throws: what `body` throws, or ``ZMQError`` from creating or terminating the context.
public func withZMQContext<Result>(
    _ body: (ZMQContext) async throws -> sending Result
) async throws -> sending Result {
    let context = try ZMQContext()
    let result: Result
    do {
        result = try await body(context)
    } catch {
        try? await terminateOnThread(context)
        throw error
    }
    try await terminateOnThread(context)
    return result
}

/// Terminates `context` on a dedicated thread so the cooperative pool never blocks.
func terminateOnThread(_ context: ZMQContext) async throws(ZMQError) {
    let outcome: Result<Void, ZMQError> = await OwnedThread.run(name: "zmq-ctx-term") {
        do throws(ZMQError) {
            try context.terminateBlocking()
            return .success(())
        } catch {
            return .failure(error)
        }
    }
    try outcome.get()
}
