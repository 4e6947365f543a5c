#if canImport(Glibc)
import Glibc
#endif

/// A plain POSIX thread, because ThawZMQ is Foundation-free and must not block the cooperative pool.
///
/// - Thread rule: ``start(name:_:)`` and ``join()`` from the owner; the body runs on the new thread.
/// - Ownership: the creator must ``join()`` exactly once (or the thread is detached by ``run(name:_:)``);
///   an unjoined thread leaks its stack until exit. Joining twice is undefined in POSIX, so callers
///   keep the handle in one place.
struct OwnedThread: Sendable {
    private let thread: pthread_t

    /// Starts `body` on a new thread.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> OwnedThread {
        final class Box {
            let body: @Sendable () -> Void
            init(body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let box = Unmanaged.passRetained(Box(body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        precondition(result == 0, "pthread_create(\(name)) failed with \(result)")
        return OwnedThread(thread: thread)
    }

    /// Waits for the thread to finish. Blocking: call it only once the thread is known to be ending.
    func join() {
        let result = pthread_join(thread, nil)
        precondition(result == 0, "pthread_join failed with \(result)")
    }

    /// Runs a blocking `work` on a fresh detached thread and suspends (never blocks) the caller until
    /// it is done.
    static func run<Value: Sendable>(name: String, _ work: @escaping @Sendable () -> Value) async -> Value {
        await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            let thread = OwnedThread.start(name: name) {
                continuation.resume(returning: work())
            }
            pthread_detach(thread.thread)
        }
    }
}
