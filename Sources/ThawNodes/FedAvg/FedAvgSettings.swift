/// The hyper-parameters of Federated Averaging (McMahan et al., "Communication-Efficient Learning of Deep
/// Networks from Decentralized Data", AISTATS 2017, Algorithm 1), plus the round deadline that bounds how
/// long the server waits for stragglers.
public struct FedAvgSettings: Sendable, Hashable, Codable {
    /// C: the fraction of clients selected each round; at least one client is always selected.
    public var clientFraction: Double
    /// E: local epochs per round.
    public var localEpochs: Int
    /// B: local minibatch size.
    public var batchSize: Int
    /// η: the clients' SGD learning rate.
    public var learningRate: Float
    /// Rounds to run (the server stops after this many).
    public var rounds: Int
    /// How long the server waits for the selected clients' updates; late ones are refused.
    public var roundDeadline: Duration
    /// Seeds client selection and the clients' shuffles.
    public var seed: UInt64
    /// The round closes as soon as this fraction of the selected clients reported (1: wait for all, as in
    /// McMahan et al.; production systems over-select and close at a goal count, Bonawitz et al., "Towards
    /// Federated Learning at Scale", SysML 2019), or at the deadline.
    public var reportFraction: Double

    public init(
        clientFraction: Double = 0.1, localEpochs: Int = 5, batchSize: Int = 10, learningRate: Float = 0.05,
        rounds: Int = 20, roundDeadline: Duration = .seconds(60), seed: UInt64 = 1, reportFraction: Double = 1
    ) {
        self.clientFraction = clientFraction
        self.localEpochs = localEpochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.rounds = rounds
        self.roundDeadline = roundDeadline
        self.seed = seed
        self.reportFraction = reportFraction
    }

    /// Why these settings cannot run, or nil.
    public var problem: String? {
        if !(clientFraction > 0 && clientFraction <= 1) {
            return "client fraction C must lie in (0, 1], got \(clientFraction)"
        }
        if localEpochs < 1 { return "local epochs E must be >= 1, got \(localEpochs)" }
        if batchSize < 1 { return "batch size B must be >= 1, got \(batchSize)" }
        if !(learningRate > 0) { return "learning rate must be positive, got \(learningRate)" }
        if rounds < 1 { return "rounds must be >= 1, got \(rounds)" }
        if roundDeadline <= .zero { return "the round deadline must be positive" }
        if !(reportFraction > 0 && reportFraction <= 1) {
            return "report fraction must lie in (0, 1], got \(reportFraction)"
        }
        return nil
    }

    /// Reports that close a round of `selected` clients early: ⌈reportFraction · selected⌉, at least one.
    public func reportGoal(selected: Int) -> Int { max(1, Int((reportFraction * Double(selected)).rounded(.up))) }

    /// m = max(⌈C·K⌉, 1) clients out of `available` (McMahan et al. use max(C·K, 1)).
    public func selectionSize(available: Int) -> Int {
        guard available > 0 else { return 0 }
        return min(available, max(1, Int((clientFraction * Double(available)).rounded(.up))))
    }
}
