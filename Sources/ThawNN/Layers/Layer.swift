/// The one interface every layer implements (convnetjs's and micrograd's small surface).
///
/// A layer caches what its backward pass needs during `forward(_:training: true)`; `backward` must follow the
/// matching training forward. Parameter layers read their weights from, and accumulate their gradients into, a
/// shared ``ParameterBuffer`` at ``parameterRange``; the optimiser sees only that buffer and knows nothing of
/// layer types.
///
/// Thread rule: layers are classes with caches and are not Sendable; the owning ``Model`` uses them from one
/// thread at a time.
public protocol Layer: AnyObject {
    /// The scalars of this layer in its ``ParameterBuffer`` (empty for parameter-free layers).
    var parameterRange: Range<Int> { get }

    /// Computes the output for a batch. With `training` true the layer caches what ``backward(_:needsInputGradient:)``
    /// needs, and dropout samples a mask.
    func forward(_ x: Tensor, training: Bool) -> Tensor

    /// Accumulates parameter gradients for the output gradient `dy` and returns the input gradient, or nil when
    /// `needsInputGradient` is false (the first layer of a head: nothing upstream is trained).
    func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor?
}

extension Layer {
    /// The input gradient for `dy`, accumulating parameter gradients on the way.
    public func backward(_ dy: Tensor) -> Tensor {
        guard let dx = backward(dy, needsInputGradient: true) else {
            preconditionFailure("\(Self.self) returned no input gradient although one was requested")
        }
        return dx
    }
}
