import Testing
import ThawNN

/// OpenBLAS through ``BLAS/gemm`` against the naive triple loop, on odd shapes and every transpose.
@Suite struct GEMMTests {
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (2, 3, 5), (7, 11, 13), (17, 1, 19), (1, 23, 2), (31, 37, 3), (64, 65, 129),
    ]
    static let transposes: [(Transpose, Transpose)] = [
        (.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
    ]

    /// Float GEMM against a Double-accumulating oracle: rounding grows with k, so the bound does too.
    static func tolerance(k: Int) -> Float { 1e-5 * Float(k) + 1e-5 }

    @Test(arguments: shapes)
    func blasMatchesNaiveForEveryTranspose(m: Int, n: Int, k: Int) {
        for (ta, tb) in Self.transposes {
            var generator = SeededGenerator(seed: UInt64(m * 10_000 + n * 100 + k))
            // Padded leading dimensions (+2) check that strides, not packed sizes, are honoured.
            let lda = (ta == .none ? k : m) + 2
            let ldb = (tb == .none ? n : k) + 2
            let ldc = n + 2
            let a = (0..<((ta == .none ? m : k) * lda)).map { _ in generator.nextUnitFloat() - 0.5 }
            let b = (0..<((tb == .none ? k : n) * ldb)).map { _ in generator.nextUnitFloat() - 0.5 }
            let c0 = (0..<(m * ldc)).map { _ in generator.nextUnitFloat() - 0.5 }
            var fast = c0
            var slow = c0
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    fast.withUnsafeMutableBufferPointer { cp in
                        BLAS.gemm(
                            ta, tb, m: m, n: n, k: k, alpha: 0.7, a: ap.baseAddress!, lda: lda,
                            b: bp.baseAddress!, ldb: ldb, beta: 0.3, c: cp.baseAddress!, ldc: ldc)
                    }
                    slow.withUnsafeMutableBufferPointer { cp in
                        NaiveGEMM.gemm(
                            ta, tb, m: m, n: n, k: k, alpha: 0.7, a: ap.baseAddress!, lda: lda,
                            b: bp.baseAddress!, ldb: ldb, beta: 0.3, c: cp.baseAddress!, ldc: ldc)
                    }
                }
            }
            let worst = zip(fast, slow).map { abs($0 - $1) }.max() ?? 0
            #expect(worst <= Self.tolerance(k: k), "m=\(m) n=\(n) k=\(k) \(ta)/\(tb): max error \(worst)")
            // Padding columns of C beyond n must be untouched.
            for row in 0..<m {
                for column in n..<ldc {
                    #expect(fast[row * ldc + column] == c0[row * ldc + column])
                }
            }
        }
    }

    @Test func naiveGEMMComputesAHandExample() {
        // [1 2; 3 4] · [5 6; 7 8] = [19 22; 43 50]
        let a: [Float] = [1, 2, 3, 4]
        let b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    NaiveGEMM.gemm(
                        .none, .none, m: 2, n: 2, k: 2, alpha: 1, a: ap.baseAddress!, lda: 2,
                        b: bp.baseAddress!, ldb: 2, beta: 0, c: cp.baseAddress!, ldc: 2)
                }
            }
        }
        #expect(c == [19, 22, 43, 50])
    }

    @Test func threadCountCanBeSet() {
        let before = BLAS.threadCount
        BLAS.setThreadCount(1)
        #expect(BLAS.threadCount == 1)
        BLAS.setThreadCount(max(1, before))
    }

    @Test(arguments: [1, 7, 1000])
    func levelOneRoutinesMatchNaive(count: Int) {
        var generator = SeededGenerator(seed: UInt64(count))
        let x = (0..<count).map { _ in generator.nextUnitFloat() - 0.5 }
        let y0 = (0..<count).map { _ in generator.nextUnitFloat() - 0.5 }
        var fast = y0
        var slow = y0
        x.withUnsafeBufferPointer { xp in
            fast.withUnsafeMutableBufferPointer { BLAS.axpy(count: count, alpha: -0.3, x: xp.baseAddress!, y: $0.baseAddress!) }
            slow.withUnsafeMutableBufferPointer { NaiveGEMM.axpy(count: count, alpha: -0.3, x: xp.baseAddress!, y: $0.baseAddress!) }
        }
        fast.withUnsafeMutableBufferPointer { BLAS.scale(count: count, alpha: 1.7, x: $0.baseAddress!) }
        slow.withUnsafeMutableBufferPointer { NaiveGEMM.scale(count: count, alpha: 1.7, x: $0.baseAddress!) }
        #expect(zip(fast, slow).allSatisfy { abs($0 - $1) <= 1e-6 })
    }
}
