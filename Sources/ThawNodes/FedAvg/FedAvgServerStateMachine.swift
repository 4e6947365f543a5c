/// The FedAvg server (McMahan et al. 2017, Algorithm 1) as a pure state machine: it selects clients,
/// hands out the global weights, collects updates until all selected clients answered or the round
/// deadline passed, and replaces the global weights by the sample-weighted average of what arrived.
///
/// It reads no clock and touches no socket: the glue passes `now` and carries out the ``FedAvgAction``s.
/// The same value drives the real `thaw fedavg` role and the in-process simulation of `thaw bench compare`.
///
/// A round closes when ``FedAvgSettings/reportGoal(selected:)`` updates arrived (all of them by default) or
/// at its deadline; updates arriving after the close are refused as stale.
///
/// Invariants: an update counts only for the round it was sent for, once per selected client, with the
/// global vector's length, a positive sample count and finite values; a round with no update leaves the
/// global weights unchanged; selection is a seeded function of the round number and the registered clients.
public struct FedAvgServerStateMachine: Sendable {
    public let settings: FedAvgSettings
    public private(set) var globalWeights: [Float]
    /// Registered clients and the sample counts they declared.
    public private(set) var clients: [FedAvgClientID: Int] = [:]
    /// The round in progress (1-based), or the last finished one.
    public private(set) var round = 0
    public private(set) var history: [FedAvgRoundSummary] = []
    public private(set) var refusals: [FedAvgRefusal: Int] = [:]
    private var selected: [FedAvgClientID] = []
    private var received: [FedAvgClientID: (weights: [Float], samples: Int)] = [:]
    private var deadline: Timestamp?

    public init(settings: FedAvgSettings, initialWeights: [Float]) {
        precondition(settings.problem == nil, settings.problem ?? "")
        self.settings = settings
        self.globalWeights = initialWeights
    }

    /// Whether a round is waiting for updates.
    public var roundOpen: Bool { deadline != nil }
    public var isFinished: Bool { round >= settings.rounds && !roundOpen }

    /// A client announced itself with `samples` local samples (again: the count is updated).
    public mutating func clientJoined(_ client: FedAvgClientID, samples: Int) {
        clients[client] = max(0, samples)
    }

    /// Opens the next round if none is open and rounds remain: selects clients and sends them the model.
    public mutating func startRound(now: Timestamp) -> [FedAvgAction] {
        guard !roundOpen, round < settings.rounds, !clients.isEmpty else { return [] }
        round += 1
        selected = ClientSelection.choose(
            settings.selectionSize(available: clients.count), from: clients.keys.sorted(),
            seed: settings.seed, round: round)
        received = [:]
        deadline = now.advanced(by: settings.roundDeadline)
        return selected.map { .sendModel(client: $0, round: round, weights: globalWeights) }
    }

    /// A client's locally trained weights for `round`, trained on `samples` samples.
    /// - Returns: the actions (the round may close), or the refusal when the update is not accepted.
    public mutating func updateReceived(
        from client: FedAvgClientID, round updateRound: Int, weights: [Float], samples: Int, now: Timestamp
    ) -> Result<[FedAvgAction], FedAvgRefusalError> {
        let refusal: FedAvgRefusal?
        if !roundOpen || updateRound != round {
            refusal = .staleRound
        } else if !selected.contains(client) {
            refusal = .notSelected
        } else if received[client] != nil {
            refusal = .duplicate
        } else if weights.count != globalWeights.count {
            refusal = .wrongSize
        } else if samples <= 0 {
            refusal = .noSamples
        } else if !weights.allSatisfy(\.isFinite) {
            refusal = .nonFinite
        } else {
            refusal = nil
        }
        if let refusal {
            refusals[refusal, default: 0] += 1
            return .failure(FedAvgRefusalError(reason: refusal, client: client, round: updateRound))
        }
        received[client] = (weights, samples)
        guard received.count >= settings.reportGoal(selected: selected.count) else { return .success([]) }
        return .success(closeRound(now: now))
    }

    /// Time passed: closes the open round when its deadline has passed, with whatever arrived.
    public mutating func tick(now: Timestamp) -> [FedAvgAction] {
        guard let deadline, now >= deadline else { return [] }
        return closeRound(now: now)
    }

    private mutating func closeRound(now: Timestamp) -> [FedAvgAction] {
        let contributors = selected.filter { received[$0] != nil }
        let updates = contributors.compactMap { received[$0] }
        if !updates.isEmpty { globalWeights = WeightedAverage.of(updates) }
        let summary = FedAvgRoundSummary(
            round: round, selected: selected, contributors: contributors,
            missing: selected.filter { received[$0] == nil }, samples: updates.reduce(0) { $0 + $1.samples },
            updated: !updates.isEmpty)
        history.append(summary)
        deadline = nil
        received = [:]
        var actions: [FedAvgAction] = [.roundFinished(summary)]
        if round >= settings.rounds { actions.append(.finished(rounds: round)) }
        return actions
    }
}

/// A refused update, with the context to log it.
public struct FedAvgRefusalError: Error, Sendable, Equatable, CustomStringConvertible {
    public let reason: FedAvgRefusal
    public let client: FedAvgClientID
    public let round: Int
    public var description: String { "update from \(client) for round \(round) refused: \(reason.rawValue)" }
}
