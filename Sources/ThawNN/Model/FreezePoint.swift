/// The layer index k that splits a sequential model into a frozen backbone, layers `[0, k)`, and a
/// trainable head, layers `[k, L)`.
///
/// A phone runs the backbone once per annotated sample and caches the activation at k; the cloud
/// trains only the head. Moving k deeper freezes more layers; moving it shallower thaws them.
public struct FreezePoint: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// The index of the first trainable layer.
    public let index: Int

    public init(_ index: Int) {
        precondition(index >= 0, "a freeze point is a layer index and cannot be negative (got \(index))")
        self.index = index
    }

    public static func < (lhs: FreezePoint, rhs: FreezePoint) -> Bool { lhs.index < rhs.index }

    public var description: String { "k=\(index)" }
}
