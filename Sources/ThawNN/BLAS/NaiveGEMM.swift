/// The textbook triple loop for GEMM: the oracle for ``BLAS/gemm`` and a fallback that needs no library.
///
/// It accumulates in Double so that comparisons against BLAS measure BLAS's rounding, not this one's.
public enum NaiveGEMM {
    /// C ← alpha · op(A) · op(B) + beta · C, row-major; the same contract as ``BLAS/gemm``.
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose,
        m: Int, n: Int, k: Int,
        alpha: Float,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        BLAS.checkShapes(transA, transB, m: m, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc)
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k {
                    let aValue = transA == .none ? a[i &* lda &+ p] : a[p &* lda &+ i]
                    let bValue = transB == .none ? b[p &* ldb &+ j] : b[j &* ldb &+ p]
                    sum += Double(aValue) * Double(bValue)
                }
                let old = beta == 0 ? 0 : Double(beta) * Double(c[i &* ldc &+ j])
                c[i &* ldc &+ j] = Float(Double(alpha) * sum + old)
            }
        }
    }

    /// y ← alpha · x + y; the oracle for ``BLAS/axpy(count:alpha:x:y:)``.
    public static func axpy(count: Int, alpha: Float, x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>) {
        for i in 0..<count { y[i] += alpha * x[i] }
    }

    /// x ← alpha · x; the oracle for ``BLAS/scale(count:alpha:x:)``.
    public static func scale(count: Int, alpha: Float, x: UnsafeMutablePointer<Float>) {
        for i in 0..<count { x[i] *= alpha }
    }
}
