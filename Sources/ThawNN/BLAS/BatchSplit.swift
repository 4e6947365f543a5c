import CBLAS
import Dispatch
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

    /// Runs `body(part)` for every part, the parts concurrently, while OpenBLAS uses one thread per call.
    static func run(parts: Int, _ body: (Int) -> Void) {
        if parts == 1 {
            body(0)
            return
        }
        let restore = BLAS.threadCount
        if active.add(1, ordering: .acquiringAndReleasing).oldValue == 0 { openblas_set_num_threads(1) }
        withoutActuallyEscaping(body) { escapable in
            let parallel = ParallelBody(body: escapable)
            DispatchQueue.concurrentPerform(iterations: parts) { parallel.body($0) }
        }
        if active.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            openblas_set_num_threads(Int32(restore))
        }
    }
}

/// A part body handed to `concurrentPerform`, which wants a `@Sendable` closure. The bodies of a split write
/// disjoint samples and per-part scratch, and `concurrentPerform` returns only after every part has finished,
/// so nothing the body captures is used by two threads at once or after the call.
private struct ParallelBody: @unchecked Sendable {
    let body: (Int) -> Void
}
