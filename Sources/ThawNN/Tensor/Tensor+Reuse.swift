/// Reusable output buffers: a layer keeps the tensors it writes and refills them on the next call, so a
/// training or inference step in steady state allocates nothing.
///
/// Value semantics are kept by copy-on-write: a caller that still holds an output from an earlier call owns
/// a shared array, and the layer's next write copies instead of overwriting it (an allocation, never a
/// change of the caller's values).
extension Tensor {
    /// An empty placeholder for a buffer not yet sized (an empty array allocates nothing).
    static var unsized: Tensor { Tensor(shape: [0], scalars: []) }

    /// Gives `self` the shape `newShape`, keeping its storage when the element count already matches.
    ///
    /// The values are unspecified afterwards unless `zeroed` is true. No allocation when the shape is
    /// unchanged and the storage is uniquely referenced.
    mutating func prepare(_ newShape: [Int], zeroed: Bool = false) {
        if shape != newShape {
            let count = Tensor.elementCount(newShape)
            if count != scalars.count {
                self = Tensor.zeros(newShape)
                return
            }
            shape = newShape
        }
        if zeroed { scalars.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
    }

    /// Whether the samples after the batch dimension have exactly `sampleShape`, without allocating.
    func hasSampleShape(_ sampleShape: [Int]) -> Bool {
        shape.count == sampleShape.count + 1 && shape.dropFirst().elementsEqual(sampleShape)
    }
}
