import ThawNN

/// A linear decoder from activations back to inputs, fitted in closed form by ridge regression: the
/// simplest reconstruction attack a curious cloud with public data can run (docs/PRIVACY.md).
///
/// With centred public activations A [n, d] and images X [n, p]: `W = (AᵀA + λI)⁻¹ AᵀX`, and a row a
/// decodes to `x̂ = μ_x + (a − μ_a) W`. The products AᵀA and AᵀX go through BLAS once
/// (``Statistics``); each λ then costs one Cholesky factorisation and two triangular solves, written
/// here in Double (ThawNN's BLAS binding has no LAPACK, and d = 3136 factorises in seconds).
package struct RidgeDecoder {
    /// Centred sufficient statistics of the public data: everything a fit needs, for any λ.
    package struct Statistics {
        package let samples: Int
        package let inputWidth: Int
        package let outputWidth: Int
        package let inputMean: [Float]
        package let outputMean: [Float]
        /// AᵀA of the centred inputs, [d, d] row-major.
        package let gram: [Float]
        /// AᵀX of the centred inputs and outputs, [d, p] row-major.
        package let cross: [Float]

        /// - Parameters: `inputs` [n, d] and `outputs` [n, p], row-major, n ≥ 1.
        package init(inputs: [Float], outputs: [Float], samples n: Int) {
            precondition(n > 0 && inputs.count % n == 0 && outputs.count % n == 0, "inputs and outputs must have n rows")
            let (d, p) = (inputs.count / n, outputs.count / n)
            (samples, inputWidth, outputWidth) = (n, d, p)
            let muA = Self.columnMeans(inputs, rows: n, columns: d)
            let muX = Self.columnMeans(outputs, rows: n, columns: p)
            let a = Self.centred(inputs, means: muA)
            let x = Self.centred(outputs, means: muX)
            var gram = [Float](repeating: 0, count: d * d)
            var cross = [Float](repeating: 0, count: d * p)
            a.withUnsafeBufferPointer { a in
                gram.withUnsafeMutableBufferPointer { g in
                    BLAS.gemm(.transposed, .none, m: d, n: d, k: n, alpha: 1, a: a.baseAddress!, lda: d,
                              b: a.baseAddress!, ldb: d, beta: 0, c: g.baseAddress!, ldc: d)
                }
                x.withUnsafeBufferPointer { x in
                    cross.withUnsafeMutableBufferPointer { c in
                        BLAS.gemm(.transposed, .none, m: d, n: p, k: n, alpha: 1, a: a.baseAddress!, lda: d,
                                  b: x.baseAddress!, ldb: p, beta: 0, c: c.baseAddress!, ldc: p)
                    }
                }
            }
            (inputMean, outputMean, self.gram, self.cross) = (muA, muX, gram, cross)
        }

        /// The mean of the Gram matrix's diagonal: the scale a relative ridge is measured in.
        package var meanDiagonal: Double {
            (0..<inputWidth).reduce(0.0) { $0 + Double(gram[$1 * inputWidth + $1]) } / Double(inputWidth)
        }

        static func columnMeans(_ values: [Float], rows: Int, columns: Int) -> [Float] {
            var sums = [Double](repeating: 0, count: columns)
            for row in 0..<rows {
                for column in 0..<columns { sums[column] += Double(values[row &* columns &+ column]) }
            }
            return sums.map { Float($0 / Double(rows)) }
        }

        static func centred(_ values: [Float], means: [Float]) -> [Float] {
            var out = values
            let columns = means.count
            for index in out.indices { out[index] -= means[index % columns] }
            return out
        }
    }

    package let inputMean: [Float]
    package let outputMean: [Float]
    /// W, [d, p] row-major.
    package let weights: [Float]
    let inputWidth: Int
    let outputWidth: Int

    /// Fits W for ridge `lambda` (absolute, in the Gram's units; > 0 so the system is positive definite).
    package init(statistics s: Statistics, lambda: Double) {
        precondition(lambda > 0, "the ridge must be positive")
        let (d, p) = (s.inputWidth, s.outputWidth)
        var l = s.gram.map(Double.init)
        for i in 0..<d { l[i * d + i] += lambda }
        Self.choleskyInPlace(&l, n: d)
        var w = s.cross.map(Double.init)
        Self.solveInPlace(lower: l, n: d, rightHandSides: &w, columns: p)
        (inputMean, outputMean, weights, inputWidth, outputWidth) = (s.inputMean, s.outputMean, w.map(Float.init), d, p)
    }

    /// Decodes `rows` activations [rows, d] to [rows, p].
    package func decode(_ inputs: [Float], rows: Int) -> [Float] {
        let (d, p) = (inputWidth, outputWidth)
        precondition(inputs.count == rows * d, "inputs must be [rows, d]")
        let centred = Statistics.centred(inputs, means: inputMean)
        var out = [Float](repeating: 0, count: rows * p)
        for row in 0..<rows { for column in 0..<p { out[row * p + column] = outputMean[column] } }
        centred.withUnsafeBufferPointer { a in
            weights.withUnsafeBufferPointer { w in
                out.withUnsafeMutableBufferPointer { o in
                    BLAS.gemm(.none, .none, m: rows, n: p, k: d, alpha: 1, a: a.baseAddress!, lda: d,
                              b: w.baseAddress!, ldb: p, beta: 1, c: o.baseAddress!, ldc: p)
                }
            }
        }
        return out
    }

    /// Cholesky–Banachiewicz: overwrites the lower triangle of the symmetric positive definite `a`
    /// [n, n] with L (A = L Lᵀ), row by row so that every dot product runs over contiguous memory.
    static func choleskyInPlace(_ a: inout [Double], n: Int) {
        a.withUnsafeMutableBufferPointer { m in
            for i in 0..<n {
                let rowI = i &* n
                for j in 0...i {
                    let rowJ = j &* n
                    var sum = m[rowI &+ j]
                    var k = 0
                    while k < j {
                        sum -= m[rowI &+ k] * m[rowJ &+ k]
                        k &+= 1
                    }
                    if i == j {
                        precondition(sum > 0, "the ridge system is not positive definite at row \(i)")
                        m[rowI &+ i] = sum.squareRoot()
                    } else {
                        m[rowI &+ j] = sum / m[rowJ &+ j]
                    }
                }
            }
        }
    }

    /// Solves L Lᵀ W = B for the [n, columns] right-hand sides `b`, in place (forward, then backward).
    static func solveInPlace(lower l: [Double], n: Int, rightHandSides b: inout [Double], columns p: Int) {
        l.withUnsafeBufferPointer { l in
            b.withUnsafeMutableBufferPointer { b in
                // L Y = B: row i of Y = (B_i − Σ_{k<i} L_ik Y_k) / L_ii.
                for i in 0..<n {
                    let rowI = i &* p
                    for k in 0..<i {
                        let factor = l[i &* n &+ k]
                        if factor == 0 { continue }
                        let rowK = k &* p
                        for c in 0..<p { b[rowI &+ c] -= factor * b[rowK &+ c] }
                    }
                    let pivot = l[i &* n &+ i]
                    for c in 0..<p { b[rowI &+ c] /= pivot }
                }
                // Lᵀ W = Y, from the last row up: once row k is final, remove it from the rows above.
                for k in stride(from: n - 1, through: 0, by: -1) {
                    let rowK = k &* p
                    let pivot = l[k &* n &+ k]
                    for c in 0..<p { b[rowK &+ c] /= pivot }
                    for i in 0..<k {
                        let factor = l[k &* n &+ i]
                        if factor == 0 { continue }
                        let rowI = i &* p
                        for c in 0..<p { b[rowI &+ c] -= factor * b[rowK &+ c] }
                    }
                }
            }
        }
    }
}
