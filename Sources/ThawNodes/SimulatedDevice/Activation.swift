/// A tensor value as the device logic sees it: a shape and row-major scalars.
///
/// The device state machine never computes with activations; it stores, counts and forwards them. The
/// glue converts to and from `ThawNN.Tensor` at the edge.
public struct Activation: Sendable, Equatable {
    public var shape: [Int]
    public var scalars: [Float]

    /// - Precondition: the shape's element count equals `scalars.count` (validated at the edge).
    public init(shape: [Int], scalars: [Float]) {
        precondition(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == scalars.count,
            "activation shape \(shape) does not hold \(scalars.count) scalars")
        self.shape = shape
        self.scalars = scalars
    }

    /// Payload size in bytes (4 per scalar); the shape's few integers are not counted.
    public var byteCount: Int { scalars.count * MemoryLayout<Float>.size }
}
