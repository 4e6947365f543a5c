/// A dense, contiguous, row-major array of `Float` with a shape.
///
/// The first dimension is the batch: `[batch, features]` for dense activations, `[batch, channels, height,
/// width]` (NCHW) for images. A tensor built inside ThawNN uses ``init(shape:scalars:)``, which traps on a
/// mismatch (a programmer error); data that comes from outside (the wire, a file) goes through
/// ``init(validatingShape:scalars:)``, which throws.
public struct Tensor: Sendable, Equatable {
    public var shape: [Int]
    public var scalars: [Float]

    /// Builds a tensor from trusted values.
    ///
    /// - Precondition: every dimension is non-negative and their product equals `scalars.count`.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(
            Tensor.elementCount(shape) == scalars.count,
            "shape \(shape) holds \(Tensor.elementCount(shape)) values, got \(scalars.count)"
        )
        self.shape = shape
        self.scalars = scalars
    }

    /// Builds a tensor from untrusted values, checking the shape and that every value is finite.
    ///
    /// - Throws: ``TensorError`` with code `.invalidShape` (empty or negative dimensions),
    ///   `.countMismatch` (product of the shape differs from the value count) or `.nonFinite`.
    public init(validatingShape shape: [Int], scalars: [Float]) throws(TensorError) {
        guard !shape.isEmpty, shape.allSatisfy({ $0 >= 0 }) else {
            throw TensorError(.invalidShape, "shape \(shape) must be non-empty with non-negative dimensions")
        }
        var product = 1
        for dimension in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw TensorError(.invalidShape, "shape \(shape) overflows Int") }
            product = next
        }
        guard product == scalars.count else {
            throw TensorError(.countMismatch, "shape \(shape) holds \(product) values, got \(scalars.count)")
        }
        if let bad = scalars.firstIndex(where: { !$0.isFinite }) {
            throw TensorError(.nonFinite, "value \(scalars[bad]) at index \(bad) is not finite")
        }
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int]) -> Tensor {
        Tensor(shape: shape, scalars: [Float](repeating: 0, count: elementCount(shape)))
    }

    /// The number of values.
    public var count: Int { scalars.count }

    /// The size of the first dimension (the number of samples).
    public var batchSize: Int {
        precondition(!shape.isEmpty, "a scalar-shaped tensor has no batch dimension")
        return shape[0]
    }

    /// The shape of one sample: every dimension after the batch.
    public var sampleShape: [Int] { Array(shape.dropFirst()) }

    /// The number of values in one sample.
    public var sampleCount: Int { shape.dropFirst().reduce(1, *) }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor { Tensor(shape: newShape, scalars: scalars) }

    /// The product of the dimensions (1 for an empty shape).
    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }
}
