import CBLAS
import Glibc
import Synchronization

/// How a layer uses more than one thread: OpenBLAS threads inside each GEMM, or the batch cut into one part
/// per thread, each part run start to finish (im2col, GEMM, bias, col2im) on its own thread with
/// single-threaded GEMMs.
///
/// Splitting the batch also spreads the work outside the GEMM kernel (a third of a convolution's time,
/// docs/LEARNING.md) and has the threads meet once per layer instead of once per GEMM call, which matters on
/// a shared machine where one of them may be descheduled. `thaw bench train --conv-threading` measures both.
public enum BatchSplit {
    public enum Strategy: Int, Sendable, CaseIterable {
        /// One thread walks the batch; each GEMM uses ``BLAS/threadCount`` OpenBLAS threads.
        case blasThreads = 0
        /// One part of the batch per thread (``BLAS/threadCount`` parts), GEMMs single-threaded.
        case splitBatch = 1
    }

    private static let strategyStorage = Atomic<Int>(Strategy.splitBatch.rawValue)
    /// Splits running now in this process; the first one in drops OpenBLAS to one thread, the last one out
    /// restores ``BLAS/threadCount``.
    private static let active = Atomic<Int>(0)

    /// The process-wide strategy for convolutions (default ``Strategy/splitBatch``, see docs/LEARNING.md).
    public static var strategy: Strategy {
        get { Strategy(rawValue: strategyStorage.load(ordering: .relaxed)) ?? .splitBatch }
        set { strategyStorage.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// The number of parts a batch of `batch` samples is cut into under the current strategy and thread count.
    static func parts(batch: Int) -> Int {
        guard strategy == .splitBatch else { return 1 }
        return max(1, min(batch, BLAS.threadCount))
    }

    /// Samples of part `part` of `parts`: contiguous, sizes differing by at most one.
    static func range(part: Int, of parts: Int, batch: Int) -> Range<Int> {
        (part * batch / parts)..<((part + 1) * batch / parts)
    }

    /// Runs `job.runPart(part)` for every part, the parts concurrently, while OpenBLAS uses one thread per call.
    static func run(parts: Int, job: some SplitJob) {
        if parts == 1 {
            job.runPart(0)
            return
        }
        let restore = BLAS.threadCount
        if active.add(1, ordering: .acquiringAndReleasing).oldValue == 0 { openblas_set_num_threads(1) }
        PartThreads.shared.run(parts: parts, job: job)
        if active.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            openblas_set_num_threads(Int32(restore))
        }
    }
}

/// Work that a ``BatchSplit`` cuts into parts: an object (not a closure, whose context a thread hand-over would
/// copy to the heap) that knows its pending call.
protocol SplitJob: AnyObject {
    func runPart(_ part: Int)
}

/// Helper threads that run the parts of a split, made once and parked between splits.
///
/// Not `DispatchQueue.concurrentPerform`: with it a 2-thread backbone step made about nine heap allocations
/// (counted with scripts/bench/malloc_count.c), and a step must allocate nothing. Parts go to helpers 1..<parts while the caller
/// runs part 0; one split uses the helpers at a time, and a split that finds them busy (another thread of the
/// process splitting at the same moment) runs its parts one after another on its own thread.
final class PartThreads: @unchecked Sendable {
    static let shared = PartThreads()

    /// Guards every field below; `start` wakes helpers for a new generation, `done` wakes the caller.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let start = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Held by the split using the helpers.
    private let busy = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var helpers = 0
    private var generation = 0
    private var parts = 0
    private var remaining = 0
    /// The running split's job; only called between its `start` broadcast and the last helper's `done`.
    private var job: (any SplitJob)?

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_mutex_init(busy, nil)
        pthread_cond_init(start, nil)
        pthread_cond_init(done, nil)
    }

    func run(parts: Int, job newJob: any SplitJob) {
        guard pthread_mutex_trylock(busy) == 0 else {
            for part in 0..<parts { newJob.runPart(part) }
            return
        }
        defer { pthread_mutex_unlock(busy) }
        while helpers < parts - 1 { spawnHelper(index: helpers + 1) }
        pthread_mutex_lock(mutex)
        job = newJob
        self.parts = parts
        remaining = parts - 1
        generation &+= 1
        pthread_cond_broadcast(start)
        pthread_mutex_unlock(mutex)
        newJob.runPart(0)
        pthread_mutex_lock(mutex)
        while remaining > 0 { pthread_cond_wait(done, mutex) }
        job = nil
        pthread_mutex_unlock(mutex)
    }

    private func spawnHelper(index: Int) {
        helpers += 1
        // The helper starts from the generation before the split that made it, or it could miss that split.
        pthread_mutex_lock(mutex)
        let current = generation
        pthread_mutex_unlock(mutex)
        let context = Unmanaged.passRetained(HelperStart(pool: self, index: index, generation: current)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { raw in
            let start = Unmanaged<HelperStart>.fromOpaque(raw!).takeRetainedValue()
            start.pool.helperLoop(index: start.index, seen: start.generation)
        }, context)
        precondition(created == 0, "pthread_create failed (\(created)) for a batch-split helper")
        pthread_detach(thread)
    }

    private func helperLoop(index: Int, seen initial: Int) -> Never {
        var seen = initial
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen { pthread_cond_wait(start, mutex) }
            seen = generation
            guard index < parts, let running = job else { continue }
            pthread_mutex_unlock(mutex)
            running.runPart(index)
            pthread_mutex_lock(mutex)
            remaining -= 1
            if remaining == 0 { pthread_cond_signal(done) }
        }
    }

    private final class HelperStart {
        let pool: PartThreads
        let index: Int
        let generation: Int
        init(pool: PartThreads, index: Int, generation: Int) {
            self.pool = pool
            self.index = index
            self.generation = generation
        }
    }
}
