import ThawWire

/// A dense float32 tensor as the registry stores it: a shape and its values in row-major order.
///
/// The registry does not depend on the engine's tensor type; the lead converts at the socket edge.
/// The initialiser does not validate, because values built inside Thaw are trusted; values from outside
/// go through ``validate(_:)`` when they are written.
public struct StoredActivations: Hashable, Sendable {
    public var shape: [Int]
    public var scalars: [Float]

    public init(shape: [Int], scalars: [Float]) {
        self.shape = shape
        self.scalars = scalars
    }

    /// Checks that every dimension is positive, that the shape's product equals the value count, and that
    /// every value is finite.
    ///
    /// - Parameter field: the name used in the error's context, e.g. `samples[2].activations`.
    /// - Throws: ``RegistryError`` with `.invalidShape` or `.nonFiniteValue`.
    public func validate(_ field: String) throws(RegistryError) {
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw RegistryError(.invalidShape, "\(field): shape \(shape) must have positive dimensions")
        }
        var product = 1
        for dimension in shape {
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw RegistryError(.invalidShape, "\(field): shape \(shape) overflows") }
            product = next
        }
        guard product == scalars.count else {
            throw RegistryError(
                .invalidShape, "\(field): shape \(shape) needs \(product) values, got \(scalars.count)")
        }
        if let bad = TensorFrame.firstNonFinite(in: scalars) {
            throw RegistryError(.nonFiniteValue, "\(field): value \(bad) is \(scalars[bad])")
        }
    }
}
