/// Activations kept at chosen layer indices during a backbone pass, so that a later freeze point can be reached
/// by running only the layers in between.
public struct ActivationCheckpoints: Sendable, Equatable {
    /// Activation index → batch activation at that index (the input of that layer).
    public var activations: [Int: Tensor]

    public init(_ activations: [Int: Tensor] = [:]) { self.activations = activations }

    /// The recorded activation at the deepest index not beyond `index`, if any.
    public func nearest(atOrBefore index: Int) -> (index: Int, activation: Tensor)? {
        guard let best = activations.keys.filter({ $0 <= index }).max() else { return nil }
        return (best, activations[best]!)
    }
}

extension Model {
    /// Runs layers `range` and keeps the activations at the indices in `recordingAt` (each in
    /// `range.lowerBound...range.upperBound`; the index is the input of that layer, `range.upperBound` the output).
    public func forward(_ x: Tensor, layers range: Range<Int>, recordingAt indices: Set<Int>)
        -> (output: Tensor, checkpoints: [Int: Tensor])
    {
        precondition(
            indices.allSatisfy { range.lowerBound <= $0 && $0 <= range.upperBound }, "checkpoint outside \(range)")
        var recorded: [Int: Tensor] = [:]
        var activation = x
        if indices.contains(range.lowerBound) { recorded[range.lowerBound] = activation }
        for index in range {
            activation = forward(activation, layers: index..<(index + 1), training: false)
            if indices.contains(index + 1) { recorded[index + 1] = activation }
        }
        return (activation, recorded)
    }

    /// Moves an activation at index `from` to index `to` by running only layers `[from, to)` (inference mode).
    public func advance(checkpoint: Tensor, from: Int, to: Int) -> Tensor {
        precondition(from <= to, "cannot advance backwards from \(from) to \(to)")
        return forward(checkpoint, layers: from..<to, training: false)
    }
}
