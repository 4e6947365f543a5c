import Testing
import ThawNN
import ThawNodes

/// The device's checkpoint placement picks the plan with the fewest expected recomputation joules
/// under its byte budget, on a CNN and on an MLP.
@Suite struct CheckpointPlacementTests {
    static let joulesPerFLOP = 1e-10

    /// FedAvg CNN split at k=7. Activation bytes: 1, 2 → 100,352; 3 → 25,088; 4, 5 → 50,176; 6 → 12,544.
    /// Forward FLOPs from the input: to 3 ≈ 1.33 M (conv1), to 6 ≈ 21.4 M (conv1 + conv2).
    @Test func onTheFedAvgCNNTheCheckpointBeforeTheFlattenWinsUntilTwoFit() {
        let placement = CheckpointPlacement(
            architecture: .fedAvgCNN(), freezePoint: FreezePoint(7), joulesPerFLOP: Self.joulesPerFLOP)
        #expect(placement.bytes(at: 3) == 25_088 && placement.bytes(at: 6) == 12_544)

        // Room for one pool output: after pool 2 (saves both convolutions for k'=6) beats after pool 1
        // (saves only conv1, but for four of the six targets).
        let one = placement.plan(budgetBytesPerSample: 25_088)
        #expect(one.layers == [6])
        #expect(one.expectedJoules < placement.evaluate([3], targets: placement.uniformTargets).expectedJoules)
        #expect(one.expectedJoules < placement.evaluate([], targets: placement.uniformTargets).expectedJoules)

        // Room for both pool outputs: take both.
        #expect(placement.plan(budgetBytesPerSample: 37_632).layers == [3, 6])
        // A known next target: exactly its layer, the cheapest plan that recomputes nothing.
        let toFive = placement.plan(budgetBytesPerSample: 1 << 20, targets: [5: 1])
        #expect(toFive.layers == [5] && toFive.expectedFLOPs == 0)
        // Nothing fits: no checkpoints.
        #expect(placement.plan(budgetBytesPerSample: 1000).layers.isEmpty)
    }

    /// 784 → 1024 → 1024 → 1024 → 10 split before the classifier (k=6): every candidate costs 4,096
    /// bytes, so the choice is only about FLOPs saved × how many targets lie at or above it.
    @Test func onAnMLPThePolicyBeatsBothTheShallowestAndTheDeepestCheckpoint() {
        let architecture = ModelArchitecture.mlpHead(inputs: 784, hidden: 1024, depth: 3, classes: 10)
        let placement = CheckpointPlacement(
            architecture: architecture, freezePoint: FreezePoint(6), joulesPerFLOP: Self.joulesPerFLOP)
        let targets = placement.uniformTargets
        let one = placement.plan(budgetBytesPerSample: 4096)
        // After the second dense layer's ReLU input (index 3): saves 3.7 M FLOPs for 3 of 5 targets,
        // more than index 1 (1.6 M for 5) or index 5 (5.8 M for 1).
        #expect(one.layers == [3])
        #expect(one.expectedJoules < placement.evaluate([1], targets: targets).expectedJoules)
        #expect(one.expectedJoules < placement.evaluate([5], targets: targets).expectedJoules)

        // Two checkpoints: no pair that fits is cheaper than the chosen one.
        let two = placement.plan(budgetBytesPerSample: 8192)
        #expect(two.layers.count == 2)
        for a in 1..<6 {
            for b in (a + 1)..<6 {
                #expect(two.expectedJoules <= placement.evaluate([a, b], targets: targets).expectedJoules)
            }
        }
    }

    @Test func expensiveStorageMakesTheDeviceRecomputeInstead() {
        let architecture = ModelArchitecture.mlpHead(inputs: 784, hidden: 1024, depth: 3, classes: 10)
        let placement = CheckpointPlacement(
            architecture: architecture, freezePoint: FreezePoint(6), joulesPerFLOP: Self.joulesPerFLOP,
            joulesPerStoredByte: 1e-3)
        #expect(placement.plan(budgetBytesPerSample: 1 << 20).layers.isEmpty)
    }
}
