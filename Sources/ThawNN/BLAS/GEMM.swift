import CBLAS
import Synchronization

/// Whether a GEMM operand is used as stored or transposed.
public enum Transpose: Sendable, Hashable {
    case none
    case transposed
}

/// The one route from ThawNN to OpenBLAS. No other file imports `CBLAS`.
///
/// All matrices are row-major. The shape preconditions live here, so a wrong leading dimension traps with a
/// message instead of reading out of bounds inside BLAS. ``NaiveGEMM`` computes the same product with plain
/// loops and is the oracle the tests compare against.
public enum BLAS {
    /// Sets the number of OpenBLAS threads for this whole process.
    ///
    /// Several Thaw processes share two cores, so each sets its own count (usually 1) at start-up.
    public static func setThreadCount(_ count: Int) {
        precondition(count >= 1, "BLAS needs at least one thread (got \(count))")
        configuredThreads.store(count, ordering: .relaxed)
        openblas_set_num_threads(Int32(count))
    }

    /// The number of threads ThawNN may use: the last ``setThreadCount(_:)``, else OpenBLAS's own default
    /// (`OPENBLAS_NUM_THREADS` or the core count). While a ``BatchSplit`` runs, OpenBLAS itself is held at one
    /// thread per call, and this still answers the configured count.
    public static var threadCount: Int {
        let configured = configuredThreads.load(ordering: .relaxed)
        if configured > 0 { return configured }
        let current = Int(openblas_get_num_threads())
        // The first reader records OpenBLAS's default, before any split can have lowered it.
        _ = configuredThreads.compareExchange(expected: 0, desired: current, ordering: .relaxed)
        return configuredThreads.load(ordering: .relaxed)
    }

    private static let configuredThreads = Atomic<Int>(0)

    /// The kernel family OpenBLAS chose at load time (for example "Haswell" or "SkylakeX"); it follows
    /// `OPENBLAS_CORETYPE` when that is set. Benchmarks report it beside their figures.
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build configuration line (version, threading model, maximum threads).
    public static var configuration: String { String(cString: openblas_get_config()) }

    /// C ← alpha · op(A) · op(B) + beta · C, row-major, where op(A) is m×k and op(B) is k×n.
    ///
    /// - Parameters:
    ///   - lda: row stride of A as stored (`k` for `.none`, `m` for `.transposed` when packed).
    ///   - ldb: row stride of B as stored (`n` for `.none`, `k` for `.transposed` when packed).
    ///   - ldc: row stride of C (`n` when packed).
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        checkShapes(transA, transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor,
            transA == .none ? CblasNoTrans : CblasTrans,
            transB == .none ? CblasNoTrans : CblasTrans,
            blasint(m), blasint(n), blasint(k),
            alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc)
        )
    }

    /// y ← alpha · x + y over `count` contiguous values (level-1 BLAS, vectorised even in debug builds).
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        precondition(count >= 0, "axpy count must be non-negative")
        if count == 0 { return }
        cblas_saxpy(blasint(count), alpha, x, 1, y, 1)
    }

    /// x ← alpha · x over `count` contiguous values.
    public static func scale(count: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        precondition(count >= 0, "scale count must be non-negative")
        if count == 0 { return }
        cblas_sscal(blasint(count), alpha, x, 1)
    }

    /// The preconditions shared by ``gemm`` and ``NaiveGEMM/gemm``.
    static func checkShapes(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "GEMM sizes must be non-negative (m=\(m) n=\(n) k=\(k))")
        precondition(lda >= max(1, transA == .none ? k : m), "lda \(lda) too small for op(A) \(m)x\(k) \(transA)")
        precondition(ldb >= max(1, transB == .none ? n : k), "ldb \(ldb) too small for op(B) \(k)x\(n) \(transB)")
        precondition(ldc >= max(1, n), "ldc \(ldc) too small for C \(m)x\(n)")
    }
}
