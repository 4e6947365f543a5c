/// Settings of a `fedavg` server node: FedAvg's hyper-parameters (McMahan et al. 2017, Algorithm 1) and when
/// it starts. Devices whose `peers` name a fedavg node run as its FedAvg clients.
public struct FedAvgOptions: Hashable, Sendable {
    /// Rounds to run; the server stops after the last (`rounds`).
    public var rounds: Int = 10
    /// C, the fraction of joined clients selected per round (`client-fraction`).
    public var clientFraction: Double = 1
    /// E, local epochs per round (`local-epochs`).
    public var localEpochs: Int = 5
    /// B, local minibatch size (`batch-size`).
    public var batchSize: Int = 10
    /// η, the clients' SGD learning rate (`learning-rate`).
    public var learningRate: Double = 0.05
    /// How long a round waits for the selected clients' updates (`round-deadline`).
    public var roundDeadline: Duration = .seconds(60)
    /// The round closes once this fraction of the selected clients reported (`report-fraction`).
    public var reportFraction: Double = 1
    /// Round 1 starts once this many clients joined (`min-clients`); 0: every phone of the topology's
    /// FedAvg device nodes.
    public var minClients: Int = 0
    /// The layer index k where the trainable part starts (`freeze-point`).
    public var freezePoint: Int = 7

    public init() {}
}
