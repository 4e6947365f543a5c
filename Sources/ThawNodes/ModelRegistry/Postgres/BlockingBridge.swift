import Dispatch
import Foundation
import Synchronization

/// Runs async work (postgres-nio's API) to completion from a blocking caller: the registry's storage
/// threads, its freeze-move thread, tools and tests.
///
/// Why a task executor of its own: the awaited task must not need a thread of Swift's cooperative pool.
/// A caller that blocks *on* that pool (a Swift Testing test body, a node's start-up) while the task
/// waits for a free pool thread would deadlock on a 2-core machine, whose pool has two threads. Every
/// job of the task runs on one serial dispatch queue instead; the socket I/O itself runs on NIO's event
/// loop threads.
///
/// Thread rule: ``wait(_:)`` from any thread except this bridge's own queue.
final class BlockingBridge: TaskExecutor, @unchecked Sendable {
    // @unchecked: the queue is immutable and thread-safe; the executor has no other state.
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }

    /// Starts `body` on this executor without waiting for it.
    func start(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        Task(executorPreference: self) { await body() }
    }

    /// Runs `body` on this executor and blocks the calling thread until it finished, or until `timeout`
    /// (then the task is cancelled and ``BridgeTimeout`` thrown; whatever it still does is discarded).
    func wait<T: Sendable>(timeout: Duration? = nil, _ body: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = Task(executorPreference: self) {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
            if done.wait(timeout: .now() + .nanoseconds(nanoseconds)) == .timedOut {
                task.cancel()
                throw BridgeTimeout(after: timeout)
            }
        } else {
            done.wait()
        }
        return try result.withLock { $0! }.get()
    }
}

/// A bridged call that did not finish in time (the database did not answer).
struct BridgeTimeout: Error, CustomStringConvertible {
    var after: Duration
    var description: String { "no answer from the database within \(after)" }
}

/// Blocking start-up work (opening a database, reading the index) from async code, on a thread of its
/// own rather than one of the cooperative pool's few threads.
enum BlockingWork {
    static func run<T: Sendable>(_ name: String, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try body() })
            }
            thread.name = name
            thread.start()
        }
    }
}
