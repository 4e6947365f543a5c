/// One user's samples divided into the stream the phone annotates and adapts on, and a held-out
/// set that only measures accuracy. Indices refer to the split the user was taken from.
public struct UserSplit: Sendable, Equatable {
    public let writer: UInt16
    /// Samples used to train the personal head (the "annotation stream").
    public let adaptation: [Int]
    /// Samples never trained on; accuracy before and after personalisation is measured here.
    public let evaluation: [Int]

    public init(writer: UInt16, adaptation: [Int], evaluation: [Int]) {
        self.writer = writer
        self.adaptation = adaptation
        self.evaluation = evaluation
    }
}
