import Foundation
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

    /// Part 2 of the rule: with equal counts the candidate is taken only when it loses no validation sample and
    /// its log-likelihood gains are confidently positive; without gains, or with the tie-break off, ties keep.
    @Test func onTiesTheGateSwapsOnlyAHeadThatIsConfidentlyMoreLikelyAndLosesNothing() {
        let gate = HeadSwapGate(tieBreakConfidence: 1)
        let better = HeadSwapGate.Evidence(samples: 4, wins: 0, losses: 0, logLikelihoodGains: [0.2, 0.3, 0.1, 0.25])
        #expect(gate.decide(better) == .swapMoreLikely && gate.decide(better).swaps)
        // Counting alone (the rule before) keeps the current head on the same evidence.
        #expect(HeadSwapGate(tieBreakConfidence: nil).decide(better) == .keepNotBetter(wins: 0, losses: 0))
        // A mean gain that is positive but not confidently so (one large gain, others negative) keeps.
        let noisy = HeadSwapGate.Evidence(samples: 4, wins: 0, losses: 0, logLikelihoodGains: [2, -0.3, -0.2, -0.4])
        #expect(noisy.likelihoodGainLowerBound(z: 1)! < 0 && gate.decide(noisy) == .keepNotBetter(wins: 0, losses: 0))
        // A lost validation sample vetoes the tie-break, however likely the rest.
        let lost = HeadSwapGate.Evidence(samples: 4, wins: 1, losses: 1, logLikelihoodGains: [3, 2, -1, 2])
        #expect(gate.decide(lost) == .keepNotBetter(wins: 1, losses: 1))
        // One validation sample gives no spread to bound: keep.
        #expect(gate.decide(.init(samples: 1, wins: 0, losses: 0, logLikelihoodGains: [1])) == .keepNotBetter(wins: 0, losses: 0))
        // Counts still decide first.
        #expect(gate.decide(.init(samples: 3, wins: 1, losses: 0, logLikelihoodGains: [-5, -5, -5])) == .swap)
    }

    @Test func evidenceFromProbabilitiesCountsArgmaxAndTheTrueLabelsLogRatio() {
        let evidence = HeadSwapGate.Evidence(
            labels: [0, 1, 2],
            currentProbabilities: [[0.6, 0.4, 0], [0.7, 0.3, 0], [0.1, 0.1, 0.8]],
            candidateProbabilities: [[0.9, 0.1, 0], [0.2, 0.8, 0], [0.5, 0.1, 0.4]])
        #expect(evidence.samples == 3 && evidence.wins == 1 && evidence.losses == 1)
        let expected = [log(0.9 / 0.6), log(0.8 / 0.3), log(0.4 / 0.8)]
        #expect(zip(evidence.logLikelihoodGains, expected).allSatisfy { abs($0 - $1) < 1e-12 })
        // A zero probability is floored, not -infinity.
        let floored = HeadSwapGate.Evidence(labels: [1], currentProbabilities: [[0.5, 0.5]], candidateProbabilities: [[1, 0]])
        #expect(floored.logLikelihoodGains[0].isFinite && floored.logLikelihoodGains[0] < -20)
    }

    /// The tie-break's false-swap rate on synthetic heads: both heads right on every validation sample (the
    /// tie the tie-break exists for), per-sample gains normal with the head's true mean gain μ and sd 0.3.
    /// A head that is in truth no more likely (μ = 0) passes the one-sided t-test at z = 1 with probability
    /// P(t_{n−1} > 1) (18.7 % for n = 5, 17.2 % for n = 10, 16.3 % for n = 30); a worse one (μ = −0.1) 5.5 % (n = 5)
    /// and 2.4 % (n = 10), a better one (μ = 0.2, n = 10) passes 87 % of the time (noncentral t).
    @Test func theTieBreaksFalseSwapRateIsTheTTestsSize() {
        var generator = SeededGenerator(seed: 5)
        func normal() -> Double {
            let u = Double.random(in: Double.ulpOfOne..<1, using: &generator)
            let v = Double.random(in: 0..<1, using: &generator)
            return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
        }
        func swapShare(samples n: Int, meanGain: Double, trials: Int = 20_000) -> Double {
            let gate = HeadSwapGate(tieBreakConfidence: 1)
            var swaps = 0
            for _ in 0..<trials {
                let gains = (0..<n).map { _ in meanGain + 0.3 * normal() }
                if gate.decide(.init(samples: n, wins: 0, losses: 0, logLikelihoodGains: gains)).swaps { swaps += 1 }
            }
            return Double(swaps) / Double(trials)
        }
        for (n, size) in [(5, 0.187), (10, 0.172), (30, 0.163)] {
            #expect(abs(swapShare(samples: n, meanGain: 0) - size) < 0.012)
        }
        #expect(abs(swapShare(samples: 5, meanGain: -0.1) - 0.055) < 0.01)
        #expect(abs(swapShare(samples: 10, meanGain: -0.1) - 0.024) < 0.008)
        // And a head that is truly more likely is taken most of the time.
        #expect(abs(swapShare(samples: 10, meanGain: 0.2) - 0.866) < 0.015)
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
