/// One JSON line of a `thaw fedavg` server on stdout: the start (round 0, the initial global model), each
/// finished round, and the end. `accuracy` is the global model's held-out accuracy on the shipped test users.
public struct FedAvgProgressLine: Codable, Sendable, Equatable {
    /// `fedavg-started`, `fedavg-round` or `fedavg-finished`.
    public var event: String
    public var round: Int
    public var clients: Int
    public var selected: [String]
    /// Clients whose update went into this round's average.
    public var contributors: [String]
    public var missing: [String]
    /// Σ nₖ over the contributors.
    public var samples: Int
    /// Held-out accuracy of the global model after this round.
    public var accuracy: Double
    /// Updates refused so far, all reasons together.
    public var refusals: Int
    /// Messages refused so far because they did not decode or were not for a FedAvg server.
    public var malformed: Int

    public init(
        event: String, round: Int, clients: Int, summary: FedAvgRoundSummary?, accuracy: Double, refusals: Int,
        malformed: Int
    ) {
        self.event = event
        self.round = round
        self.clients = clients
        self.selected = summary?.selected ?? []
        self.contributors = summary?.contributors ?? []
        self.missing = summary?.missing ?? []
        self.samples = summary?.samples ?? 0
        self.accuracy = accuracy
        self.refusals = refusals
        self.malformed = malformed
    }
}
