import Testing
import ThawNN

@testable import ThawNodes

@Suite struct FedAvgTests {
    static func at(_ seconds: Double) -> Timestamp { Timestamp(milliseconds: UInt64(seconds * 1000)) }

    static func server(clients: Int, fraction: Double = 1, rounds: Int = 3, weights: [Float] = [0, 0])
        -> FedAvgServerStateMachine
    {
        var server = FedAvgServerStateMachine(
            settings: FedAvgSettings(clientFraction: fraction, rounds: rounds, roundDeadline: .seconds(10)),
            initialWeights: weights)
        for i in 0..<clients { server.clientJoined("c\(i)", samples: 10 * (i + 1)) }
        return server
    }

    @Test func averagingIsWeightedBySampleCountExactly() {
        let average = WeightedAverage.of([([1, 0, 4], 1), ([4, 3, 0], 2)])
        #expect(average == [3, 2, Float(4.0 / 3.0)])
        #expect(WeightedAverage.of([([0.5, -2], 7)]) == [0.5, -2])
    }

    @Test func aRoundAveragesTheUpdatesThatArrivedAndSendsTheModelToTheSelected() throws {
        var server = Self.server(clients: 2)
        let sends = server.startRound(now: Self.at(0))
        #expect(
            sends == [
                .sendModel(client: "c0", round: 1, weights: [0, 0]),
                .sendModel(client: "c1", round: 1, weights: [0, 0]),
            ])
        #expect(
            try server.updateReceived(from: "c0", round: 1, weights: [1, 1], samples: 1, now: Self.at(1)).get().isEmpty)
        let closing = try server.updateReceived(from: "c1", round: 1, weights: [4, 7], samples: 3, now: Self.at(2))
            .get()
        #expect(server.globalWeights == [3.25, 5.5])
        guard case .roundFinished(let summary) = closing.first else { Issue.record("no summary"); return }
        #expect(summary.contributors == ["c0", "c1"] && summary.missing.isEmpty && summary.samples == 4)
    }

    @Test func selectionTakesAtLeastOneClientAndIsReproducible() {
        let settings = FedAvgSettings(clientFraction: 0.1)
        #expect(settings.selectionSize(available: 5) == 1)
        #expect(settings.selectionSize(available: 100) == 10)
        #expect(settings.selectionSize(available: 101) == 11)
        let clients = (0..<100).map { "c\($0)" }
        let first = ClientSelection.choose(10, from: clients, seed: 3, round: 4)
        #expect(first == ClientSelection.choose(10, from: clients, seed: 3, round: 4))
        #expect(Set(first).count == 10)
        #expect(first != ClientSelection.choose(10, from: clients, seed: 3, round: 5))
    }

    @Test func theDeadlineClosesARoundWithoutStragglersAndRefusesTheirLateUpdates() throws {
        var server = Self.server(clients: 3, weights: [1])
        _ = server.startRound(now: Self.at(0))
        _ = try server.updateReceived(from: "c2", round: 1, weights: [5], samples: 2, now: Self.at(1)).get()
        #expect(server.tick(now: Self.at(9.9)).isEmpty)
        let closed = server.tick(now: Self.at(10))
        guard case .roundFinished(let summary) = closed.first else { Issue.record("round still open"); return }
        #expect(summary.missing == ["c0", "c1"] && summary.contributors == ["c2"])
        #expect(server.globalWeights == [5])
        let late = server.updateReceived(from: "c0", round: 1, weights: [9], samples: 5, now: Self.at(11))
        #expect(late == .failure(FedAvgRefusalError(reason: .staleRound, client: "c0", round: 1)))
        #expect(server.refusals[.staleRound] == 1)
    }

    @Test func aRoundWithoutUpdatesKeepsTheModel() {
        var server = Self.server(clients: 2, weights: [2, 2])
        _ = server.startRound(now: Self.at(0))
        let closed = server.tick(now: Self.at(20))
        #expect(server.globalWeights == [2, 2])
        #expect(closed.contains { if case .roundFinished(let s) = $0 { !s.updated } else { false } })
    }

    @Test func badUpdatesAreRefusedNotFatal() throws {
        var server = Self.server(clients: 2, fraction: 0.5)
        let sends = server.startRound(now: Self.at(0))
        guard case .sendModel(let chosen, _, _) = sends.first else {
            Issue.record("nothing sent")
            return
        }
        let other = chosen == "c0" ? "c1" : "c0"
        let refusals: [(FedAvgClientID, [Float], Int, FedAvgRefusal)] = [
            (other, [1, 1], 1, .notSelected), (chosen, [1], 1, .wrongSize), (chosen, [1, 1], 0, .noSamples),
            (chosen, [.nan, 1], 1, .nonFinite),
        ]
        for (client, weights, samples, reason) in refusals {
            let result = server.updateReceived(
                from: client, round: 1, weights: weights, samples: samples, now: Self.at(1))
            #expect(result == .failure(FedAvgRefusalError(reason: reason, client: client, round: 1)))
        }
        #expect(server.roundOpen)
        let done = try server.updateReceived(from: chosen, round: 1, weights: [1, 1], samples: 1, now: Self.at(1)).get()
        #expect(!done.isEmpty)
        let again = server.updateReceived(from: chosen, round: 1, weights: [1, 1], samples: 1, now: Self.at(1))
        #expect(again == .failure(FedAvgRefusalError(reason: .staleRound, client: chosen, round: 1)))
    }

    @Test func theLastRoundFinishesTheRun() throws {
        var server = Self.server(clients: 1, rounds: 2, weights: [0])
        for round in 1...2 {
            _ = server.startRound(now: Self.at(Double(round)))
            let actions = try server.updateReceived(
                from: "c0", round: round, weights: [Float(round)], samples: 1, now: Self.at(Double(round))
            ).get()
            #expect(actions.contains(.finished(rounds: 2)) == (round == 2))
        }
        #expect(server.isFinished)
        let more = server.startRound(now: Self.at(9))
        #expect(more.isEmpty)
    }

    /// Non-IID clients (each sees one region of a separable problem) still reach a good global model.
    @Test func federatedAveragingConvergesOnASeparableProblem() throws {
        let architecture = ModelArchitecture.mlpHead(inputs: 2, hidden: 8, depth: 1, classes: 2)
        let settings = FedAvgSettings(clientFraction: 0.5, localEpochs: 2, batchSize: 5, learningRate: 0.2, rounds: 15)
        var generator = SeededGenerator(seed: 9)
        var clients: [(inputs: Tensor, labels: [Int])] = []
        for client in 0..<6 {
            var scalars: [Float] = []
            var labels: [Int] = []
            for _ in 0..<20 {
                let x = Float(client) / 3 - 1 + generator.nextUnitFloat() * 0.6
                let y = generator.nextUnitFloat() * 2 - 1
                scalars += [x, y]
                labels.append(x + 0.5 * y > 0 ? 1 : 0)
            }
            clients.append((Tensor(shape: [20, 2], scalars: scalars), labels))
        }
        let model = Model(architecture: architecture, seed: 4)
        let freeze = FreezePoint(0)
        var server = FedAvgServerStateMachine(settings: settings, initialWeights: model.headParameters(from: freeze))
        for index in clients.indices { server.clientJoined("c\(index)", samples: 20) }
        let allInputs = Tensor.concatenatingRows(clients.map(\.inputs))
        let allLabels = clients.flatMap(\.labels)
        let before = model.evaluate(allInputs, labels: allLabels).loss
        let update = FedAvgLocalUpdate(settings: settings)
        var now = 0.0
        while !server.isFinished {
            for case .sendModel(let client, let round, let weights) in server.startRound(now: Self.at(now)) {
                let index = Int(client.dropFirst())!
                let outcome = update.run(
                    model: model, freezePoint: freeze, globalWeights: weights, inputs: clients[index].inputs,
                    labels: clients[index].labels, clientSeed: UInt64(index), round: round)
                #expect(outcome.flops.backward > 0)
                _ = try server.updateReceived(
                    from: client, round: round, weights: outcome.weights, samples: outcome.samples, now: Self.at(now)
                ).get()
            }
            now += 1
        }
        model.setHeadParameters(server.globalWeights, from: freeze)
        let after = model.evaluate(allInputs, labels: allLabels)
        #expect(after.loss < before * 0.6)
        #expect(after.accuracy > 0.9)
    }

    @Test func aReportGoalClosesTheRoundBeforeTheSlowestClient() throws {
        var server = FedAvgServerStateMachine(
            settings: FedAvgSettings(clientFraction: 1, rounds: 1, roundDeadline: .seconds(10), reportFraction: 0.6),
            initialWeights: [0])
        for i in 0..<4 { server.clientJoined("c\(i)", samples: 1) }
        _ = server.startRound(now: Self.at(0))
        #expect(
            try server.updateReceived(from: "c0", round: 1, weights: [2], samples: 1, now: Self.at(1)).get().isEmpty)
        #expect(
            try server.updateReceived(from: "c3", round: 1, weights: [4], samples: 1, now: Self.at(2)).get().isEmpty)
        let closing = try server.updateReceived(from: "c1", round: 1, weights: [6], samples: 1, now: Self.at(3)).get()
        #expect(closing.contains(.finished(rounds: 1)))  // ⌈0.6 · 4⌉ = 3 reports close the round
        #expect(server.globalWeights == [4])
        let late = server.updateReceived(from: "c2", round: 1, weights: [8], samples: 1, now: Self.at(4))
        #expect(late == .failure(FedAvgRefusalError(reason: .staleRound, client: "c2", round: 1)))
    }
}
