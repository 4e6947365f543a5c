import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A `TaskExecutor` that runs every job on one dedicated POSIX thread.
///
/// ``withTestContext(_:)`` runs a test body under this executor's preference: the body stays in
/// the test's own task (so `#expect` is attributed to the right test through its task-locals) while
/// its blocking socket calls occupy this thread instead of one of the cooperative pool's two threads.
///
/// - Thread rule: ``enqueue(_:)`` from any thread; jobs run on the dedicated thread, one at a time.
/// - Ownership: the creator calls ``shutdown()`` once no job is pending; the thread then exits
///   (it is detached, so nothing waits on the pool).
final class DedicatedThreadExecutor: TaskExecutor {
    private let jobs = Mutex<[UnownedJob]>([])
    /// A pipe whose bytes count queued jobs; the thread blocks reading it. (`eventfd` is not visible
    /// through Glibc, and only ThawZMQ may import CLibZMQ, whose shim exports it.)
    private let readEnd: Int32
    private let writeEnd: Int32
    private let stopping = Atomic<Bool>(false)

    init() {
        var fds: [Int32] = [0, 0]
        let result = pipe(&fds)
        precondition(result == 0, "pipe() failed")
        readEnd = fds[0]
        writeEnd = fds[1]
        let context = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(
            &thread, nil,
            { argument in
                let executor = Unmanaged<DedicatedThreadExecutor>.fromOpaque(argument!).takeRetainedValue()
                executor.runJobs()
                return nil
            }, context)
        precondition(created == 0, "pthread_create failed with \(created)")
        pthread_detach(thread)
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        jobs.withLock { $0.append(unowned) }
        signal()
    }

    /// Lets the thread exit after the jobs already queued.
    func shutdown() {
        stopping.store(true, ordering: .releasing)
        signal()
    }

    private func signal() {
        var byte: UInt8 = 1
        while write(writeEnd, &byte, 1) < 0 {}
    }

    private func runJobs() {
        var byte: UInt8 = 0
        while true {
            // One byte per enqueue or shutdown; a blocking read, on this thread only.
            guard read(readEnd, &byte, 1) == 1 else { continue }
            let job = jobs.withLock { $0.isEmpty ? nil : $0.removeFirst() }
            if let job {
                job.runSynchronously(on: asUnownedTaskExecutor())
            } else if stopping.load(ordering: .acquiring) {
                break
            }
        }
        close(readEnd)
        close(writeEnd)
    }
}
