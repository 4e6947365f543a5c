/// Every trainable scalar of a model in one contiguous `[Float]`, with named slices, plus gradient storage
/// for the part being trained.
///
/// One flat buffer makes "send the trained head", "average two heads" and "apply an optimiser step" each one
/// loop over a range (llm.c keeps its parameters the same way). Layers hold this buffer and the offset of their
/// slice; the order is layer by layer, weights then biases.
///
/// Gradients exist only for ``gradientRange``: training a head at freeze point k allocates and zeroes gradient
/// storage for the head's parameters alone, so the frozen backbone costs no gradient memory or work.
///
/// Thread rule: not Sendable; one owner (a ``Model``) uses it from one thread at a time.
public final class ParameterBuffer {
    /// One named run of scalars belonging to one layer.
    public struct Slice: Hashable, Sendable {
        /// For example `"layer7.dense.weight"`.
        public let name: String
        public let layerIndex: Int
        /// The position in ``ParameterBuffer/values``.
        public let range: Range<Int>
        /// The logical shape, e.g. `[outputs, inputs]` for a dense weight.
        public let shape: [Int]

        public init(name: String, layerIndex: Int, range: Range<Int>, shape: [Int]) {
            self.name = name
            self.layerIndex = layerIndex
            self.range = range
            self.shape = shape
        }
    }

    /// All parameters, layer by layer.
    public var values: [Float]
    /// Gradient of the loss with respect to `values[gradientRange]`; `gradients[i]` belongs to
    /// `values[gradientRange.lowerBound + i]`.
    public private(set) var gradients: [Float]
    /// The parameters that currently have gradient storage.
    public private(set) var gradientRange: Range<Int>
    /// The size table: every named slice, in buffer order.
    public let slices: [Slice]

    /// A buffer of `count` zeros with the given slices (which must tile 0..<count in order).
    public init(count: Int, slices: [Slice] = []) {
        precondition(count >= 0, "negative parameter count")
        var next = 0
        for slice in slices {
            precondition(slice.range.lowerBound == next, "slice \(slice.name) does not follow the previous one")
            precondition(Tensor.elementCount(slice.shape) == slice.range.count, "slice \(slice.name) shape mismatch")
            next = slice.range.upperBound
        }
        precondition(slices.isEmpty || next == count, "slices cover \(next) of \(count) parameters")
        self.values = [Float](repeating: 0, count: count)
        self.gradients = []
        self.gradientRange = 0..<0
        self.slices = slices
    }

    /// The number of parameters.
    public var count: Int { values.count }

    /// Allocates (if needed) and zeroes gradient storage for exactly `range`, once per training step.
    public func zeroGradients(for range: Range<Int>) {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= values.count, "gradient range \(range) outside buffer")
        if gradientRange != range || gradients.count != range.count {
            gradients = [Float](repeating: 0, count: range.count)
            gradientRange = range
        } else {
            gradients.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }

    /// Frees gradient storage (after training, or before handing the model to inference only).
    public func releaseGradients() {
        gradients = []
        gradientRange = 0..<0
    }

    /// The slice with the given name, if any.
    public func slice(named name: String) -> Slice? { slices.first { $0.name == name } }

    /// Runs `body` with read access to the parameters at `range`.
    func withValues<R>(_ range: Range<Int>, _ body: (UnsafeBufferPointer<Float>) -> R) -> R {
        values.withUnsafeBufferPointer { body(UnsafeBufferPointer(rebasing: $0[range])) }
    }

    /// Runs `body` with write access to the gradients of the parameters at `range`.
    ///
    /// - Precondition: `range` lies inside ``gradientRange`` (call ``zeroGradients(for:)`` first).
    func withGradients<R>(_ range: Range<Int>, _ body: (UnsafeMutableBufferPointer<Float>) -> R) -> R {
        precondition(
            range.lowerBound >= gradientRange.lowerBound && range.upperBound <= gradientRange.upperBound,
            "no gradient storage for parameters \(range) (have \(gradientRange)); is this layer frozen?"
        )
        let base = gradientRange.lowerBound
        return gradients.withUnsafeMutableBufferPointer {
            body(UnsafeMutableBufferPointer(rebasing: $0[(range.lowerBound - base)..<(range.upperBound - base)]))
        }
    }
}
