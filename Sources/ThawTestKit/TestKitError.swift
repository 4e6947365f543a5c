/// A failure detected by a ThawTestKit helper (a timeout, a leaked socket, a hung termination).
///
/// Helpers throw instead of recording an expectation, so they work from any context.
public struct TestKitError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, in words meant for the test log.
    public let message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
