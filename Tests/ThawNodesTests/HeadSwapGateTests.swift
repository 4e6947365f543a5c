import Testing
import ThawDeviceProfile
import ThawNN

@testable import ThawNodes

@Suite struct HeadSwapGateTests {
    @Test func aHeadIsSwappedInOnlyWhenItIsRightOnMoreValidationSamples() {
        let gate = HeadSwapGate(margin: 1)
        #expect(gate.decide(.init(samples: 10, wins: 2, losses: 1)) == .swap)
        #expect(gate.decide(.init(samples: 10, wins: 1, losses: 1)) == .keepNotBetter(wins: 1, losses: 1))  // tie keeps
        #expect(gate.decide(.init(samples: 10, wins: 0, losses: 0)) == .keepNotBetter(wins: 0, losses: 0))  // same answers
        #expect(gate.decide(.init(samples: 10, wins: 1, losses: 3)) == .keepNotBetter(wins: 1, losses: 3))
        #expect(gate.decide(.init(samples: 0, wins: 0, losses: 0)) == .keepNoEvidence)
        let strict = HeadSwapGate(margin: 2)
        #expect(!strict.decide(.init(samples: 5, wins: 2, losses: 1)).swaps && strict.decide(.init(samples: 5, wins: 3, losses: 1)).swaps)
    }

    @Test func evidenceCountsOnlyTheSamplesWhereTheHeadsDisagree() {
        let evidence = HeadSwapGate.Evidence(labels: [1, 2, 3, 4, 5], current: [1, 0, 3, 0, 9], candidate: [1, 2, 0, 0, 5])
        #expect(evidence == HeadSwapGate.Evidence(samples: 5, wins: 2, losses: 1))
    }

    @Test func theValidationShareIsAFixedHashOfTheSampleIdWithTheStatedShare() {
        let gate = HeadSwapGate(validationShare: 0.3, seed: 7)
        let chosen = (UInt64(0)..<20_000).filter(gate.isValidation)
        #expect(abs(Double(chosen.count) / 20_000 - 0.3) < 0.015)
        #expect(chosen == (UInt64(0)..<20_000).filter(HeadSwapGate(validationShare: 0.3, seed: 7).isValidation))
        #expect(!(UInt64(0)..<1000).contains(where: HeadSwapGate(validationShare: 0).isValidation))
    }

    /// The documented false-swap rate: exact values, and the rule itself simulated on random heads agrees.
    @Test func theFalseSwapRateIsTheStatedBinomialTail() {
        #expect(HeadSwapGate.falseSwapProbability(discordant: 0, margin: 1) == 0)
        #expect(abs(HeadSwapGate.falseSwapProbability(discordant: 4, margin: 1) - 0.3125) < 1e-12)
        #expect(abs(HeadSwapGate.falseSwapProbability(discordant: 5, margin: 1) - 0.5) < 1e-12)
        #expect(abs(HeadSwapGate.falseSwapProbability(discordant: 2, margin: 1, winProbability: 0.3) - 0.09) < 1e-12)
        for d in 1...30 { #expect(HeadSwapGate.falseSwapProbability(discordant: d, margin: 1) <= 0.5 + 1e-12) }
        // Simulation: 12 validation samples; the current head is right with probability 0.9, the candidate
        // independently with probability 0.85 (truly worse). The measured swap share matches the formula
        // averaged over the number of discordant samples.
        var generator = SeededGenerator(seed: 11)
        let gate = HeadSwapGate(margin: 1)
        let trials = 20_000
        var swaps = 0
        for _ in 0..<trials {
            let current = (0..<12).map { _ in Double.random(in: 0..<1, using: &generator) < 0.9 }
            let candidate = (0..<12).map { _ in Double.random(in: 0..<1, using: &generator) < 0.85 }
            if gate.decide(.init(currentRight: current, candidateRight: candidate)).swaps { swaps += 1 }
        }
        // P(discordant) per sample = 0.9·0.15 + 0.1·0.85 = 0.22; a discordant sample is a win with 0.085/0.22.
        let q = 0.22
        let p = 0.085 / 0.22
        var expected = 0.0
        for d in 0...12 {
            var choose = 1.0
            for i in 0..<d { choose = choose * Double(12 - i) / Double(i + 1) }
            var weight = choose
            for _ in 0..<d { weight *= q }
            for _ in 0..<(12 - d) { weight *= 1 - q }
            expected += weight * HeadSwapGate.falseSwapProbability(discordant: d, margin: 1, winProbability: p)
        }
        #expect(abs(Double(swaps) / Double(trials) - expected) < 0.01)
        #expect(expected < 0.25)
    }

    @Test func aGatedPhoneKeepsItsValidationShareAndDeclinesAHeadThatDoesNotWin() throws {
        let gate = HeadSwapGate(validationShare: 0.5, seed: 3)
        var device = DeviceStateMachine(
            configuration: DeviceConfiguration(
                layerCount: 6, flush: FlushPolicy(minimumBatteryPercent: 20, minimumBatch: 1, maximumAge: .seconds(60)),
                maximumBatchSize: 100, headPullInterval: .seconds(30),
                battery: .init(capacityJoules: 1000, levelJoules: 1000), headSwapGate: gate))
        _ = device.deploymentObserved(Fixture.state(), now: Fixture.at(0))
        for id in UInt64(1)...20 { device.addAnnotated(id) }
        let validation = (UInt64(1)...20).filter(gate.isValidation)
        #expect(!validation.isEmpty && validation.count < 20)
        #expect(device.validationEntries.map(\.sampleId) == validation)
        let sent = device.tick(now: Fixture.at(1)).sentBatches.flatMap { $0.entries.map(\.sampleId) }
        #expect(Set(sent) == Set(1...20).subtracting(validation))  // the validation share never leaves the phone

        let first = HeadInfo(version: 1, hash: "h1", freezePoint: .init(3), modelVersion: .init(1))
        #expect(device.headReceived(first, evidence: .init(samples: validation.count, wins: 1, losses: 1)).isEmpty)
        #expect(device.statistics.headsRejected == 1 && device.head == nil && device.declinedHeadHash == "h1")
        // The same head again is not evaluated or counted again, whatever the evidence.
        #expect(device.headReceived(first, evidence: .init(samples: validation.count, wins: 3, losses: 0)).isEmpty)
        #expect(device.statistics.headsRejected == 1)
        // Without evidence a gated phone keeps its head.
        let second = HeadInfo(version: 2, hash: "h2", freezePoint: .init(3), modelVersion: .init(1))
        #expect(device.headReceived(second).isEmpty && device.statistics.headsRejected == 2)
        let third = HeadInfo(version: 3, hash: "h3", freezePoint: .init(3), modelVersion: .init(1))
        #expect(device.headReceived(third, evidence: .init(samples: validation.count, wins: 2, losses: 1)) == [.swapHead(third)])
        #expect(device.head == third && device.statistics.headsSwapped == 1 && device.declinedHeadHash == "h2")
    }

    @Test func anUngatedPhoneTakesEveryFittingHeadAsBefore() {
        var device = DeviceStateMachine.ready()
        let head = HeadInfo(version: 1, hash: "x", freezePoint: .init(3), modelVersion: .init(1))
        #expect(device.headReceived(head) == [.swapHead(head)] && device.statistics.headsRejected == 0)
        #expect(device.validationEntries.isEmpty)
    }
}
