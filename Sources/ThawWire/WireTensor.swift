/// A dense float tensor as it travels on the wire: a shape and row-major scalars.
///
/// ThawWire does not know ThawNN's `Tensor`; ThawNodes converts between the two. The shape and the
/// scalar count always agree: the initialiser checks it, and decoding builds one only after the frame
/// passed validation.
public struct WireTensor: Sendable, Equatable {
    public let shape: [Int]
    public let scalars: [Float]

    /// Makes a tensor; `shape`'s product must equal `scalars.count` (a programmer error otherwise).
    public init(shape: [Int], scalars: [Float]) {
        precondition(!shape.isEmpty, "WireTensor needs at least one dimension")
        precondition(shape.allSatisfy { $0 >= 0 }, "WireTensor shape \(shape) has a negative dimension")
        precondition(
            shape.reduce(1, *) == scalars.count,
            "WireTensor shape \(shape) does not hold \(scalars.count) scalars"
        )
        self.shape = shape
        self.scalars = scalars
    }

    /// A rank-1 tensor over `scalars`.
    public init(flat scalars: [Float]) {
        self.init(shape: [scalars.count], scalars: scalars)
    }

    /// Builds a tensor without re-checking; for the decoder, which validated the frame already.
    init(validatedShape shape: [Int], scalars: [Float]) {
        self.shape = shape
        self.scalars = scalars
    }
}
