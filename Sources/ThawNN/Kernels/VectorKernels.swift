/// Elementwise loops written with explicit SIMD vectors.
///
/// The compiler left the obvious scalar form of the ReLU gradient, `mask > 0 ? gradient : 0`, as a branch per
/// element: 6.3 % of a FedAvg CNN training step in `perf record` (one thread), mispredicted on a mask that is
/// about half ones; as vectors it is 1.3 %. (Vector copies for im2col's short runs instead of `memmove` were
/// tried and measured no faster, so im2col keeps `memmove`.)
enum VectorKernels {
    typealias Vector = SIMD16<Float>
    static let width = 16

    @inline(__always)
    static func load(_ p: UnsafePointer<Float>) -> Vector {
        UnsafeRawPointer(p).loadUnaligned(as: Vector.self)
    }

    @inline(__always)
    static func store(_ v: Vector, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vector.self)
    }

    /// y[i] = x[i] > 0 ? x[i] : 0 (NaN gives 0, as the scalar form did).
    static func relu(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
        let zero = Vector()
        var i = 0
        while i &+ width <= count {
            let v = load(x + i)
            store(zero.replacing(with: v, where: v .> zero), y + i)
            i &+= width
        }
        while i < count {
            let v = x[i]
            y[i] = v > 0 ? v : 0
            i &+= 1
        }
    }

    /// dx[i] = y[i] > 0 ? dy[i] : 0.
    static func reluGradient(
        _ dy: UnsafePointer<Float>, mask y: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>, count: Int
    ) {
        let zero = Vector()
        var i = 0
        while i &+ width <= count {
            store(zero.replacing(with: load(dy + i), where: load(y + i) .> zero), dx + i)
            i &+= width
        }
        while i < count {
            let g = dy[i]
            dx[i] = y[i] > 0 ? g : 0
            i &+= 1
        }
    }
}
