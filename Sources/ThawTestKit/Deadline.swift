/// Thrown by ``withDeadline(_:_:)`` when the body did not finish in time.
public struct DeadlineExceeded: Error, Hashable, Sendable, CustomStringConvertible {
    /// The deadline that passed.
    public let limit: Duration
    /// What was being waited for.
    public let what: String

    public var description: String { "deadline of \(limit) exceeded waiting for \(what)" }
}

/// Runs `body` and throws ``DeadlineExceeded`` if it takes longer than `limit`.
///
/// A task group races the body against a sleep; the loser is cancelled. The body must react to
/// cancellation (every `await` on a ``ThawZMQ/SocketLoop`` stream does) or the group waits for it.
/// - Throws: ``DeadlineExceeded``, or what `body` throws.
public func withDeadline<Result: Sendable>(
    _ limit: Duration,
    _ what: String = "operation",
    isolation: isolated (any Actor)? = #isolation,
    _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw DeadlineExceeded(limit: limit, what: what)
        }
        return value
    }
}
