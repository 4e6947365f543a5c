/// The version number of a deployed base model.
///
/// Versions only grow: the coordinator persists the last one it announced so that a restart never
/// goes backwards, and every cached activation is stamped with the version that produced it.
public struct ModelVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let number: UInt64

    public init(_ number: UInt64) { self.number = number }

    /// The version that follows this one.
    public var next: ModelVersion { ModelVersion(number + 1) }

    public static func < (lhs: ModelVersion, rhs: ModelVersion) -> Bool { lhs.number < rhs.number }

    public var description: String { "v\(number)" }
}
