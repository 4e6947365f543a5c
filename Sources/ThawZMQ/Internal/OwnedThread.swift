#if canImport(Glibc)
import Glibc
#endif

/// A plain POSIX thread, because ThawZMQ is Foundation-free and must not block the cooperative pool.
///
/// - Thread rule: ``start(name:_:)`` and ``join()`` from any one owner; the body runs on the new thread.
/// - Ownership: the creator must ``join()`` exactly once; a handle dropped unjoined leaks the thread's
///   resources (a debug assertion catches it).
final class OwnedThread {
    private var thread: pthread_t
    private var joined = false

    private init(thread: pthread_t) {
        self.thread = thread
    }

    /// Starts `body` on a new thread.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) -> OwnedThread {
        final class Box {
            let name: String
            let body: @Sendable () -> Void
            init(name: String, body: @escaping @Sendable () -> Void) {
                self.name = name
                self.body = body
            }
        }
        let box = Unmanaged.passRetained(Box(name: name, body: body)).toOpaque()
        var thread = pthread_t()
        let result = pthread_create(
            &thread, nil,
            { argument in
                let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
                box.body()
                return nil
            }, box)
        precondition(result == 0, "pthread_create failed with \(result)")
        return OwnedThread(thread: thread)
    }

    /// Waits for the thread to finish. Blocking: call it only once the thread is known to be ending.
    func join() {
        precondition(!joined, "OwnedThread joined twice")
        joined = true
        let result = pthread_join(thread, nil)
        precondition(result == 0, "pthread_join failed with \(result)")
    }

    deinit {
        assert(joined, "OwnedThread dropped without join")
    }

    /// Runs a blocking `work` on a fresh thread and suspends (not blocks) the caller until it is done.
    static func run<Value: Sendable>(name: String, _ work: @escaping @Sendable () -> Value) async -> Value {
        let value = await withCheckedContinuation { (continuation: CheckedContinuation<Value, Never>) in
            let thread = OwnedThread.start(name: name) {
                continuation.resume(returning: work())
            }
            // The thread resumes the continuation as its very last step, so joining here waits at
            // most for its exit. Detach instead to avoid blocking inside the continuation closure.
            pthread_detach(thread.thread)
            thread.joined = true
        }
        return value
    }
}
