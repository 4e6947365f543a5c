/// A FedAvg client, by the name it registered under.
public typealias FedAvgClientID = String

/// What the FedAvg server's glue must do, in order.
public enum FedAvgAction: Sendable, Equatable {
    /// Send the global trainable weights to a selected client for round `round`.
    case sendModel(client: FedAvgClientID, round: Int, weights: [Float])
    /// A round closed (all selected clients answered, or the deadline passed).
    case roundFinished(FedAvgRoundSummary)
    /// The last round closed; the global model is final.
    case finished(rounds: Int)
}

/// What happened in one round.
public struct FedAvgRoundSummary: Sendable, Equatable, Codable {
    public var round: Int
    public var selected: [FedAvgClientID]
    /// Clients whose update was averaged.
    public var contributors: [FedAvgClientID]
    /// Selected clients with no update by the deadline (stragglers and dropouts alike).
    public var missing: [FedAvgClientID]
    /// Σ nₖ over the contributors.
    public var samples: Int
    /// False when nobody answered: the global model is unchanged.
    public var updated: Bool
}

/// Why the server refused a client's update (counted and logged by the glue, never fatal).
public enum FedAvgRefusal: String, Sendable, Equatable {
    case notSelected = "not-selected"
    case staleRound = "stale-round"
    case duplicate
    case wrongSize = "wrong-size"
    case noSamples = "no-samples"
    case nonFinite = "non-finite"
}
