import Testing
import ThawModel
import ThawNN
import ThawWire

@testable import ThawNodes

/// The deployment's activation encoding on the worker: a batch in the encoding its stamp names is stored
/// (as float32); any other is refused with a BatchRejected and never stored or acknowledged.
@Suite struct ActivationEncodingWorkerTests {
    typealias Machine = TrainerWorkerStateMachine
    typealias Base = TrainerWorkerStateMachineTests

    static let int8Deployment = Fixture.state(version: 1, freeze: 2, hyper: "h+int8", epoch: 4)

    func harness() -> Base.Harness {
        var h = Base.Harness()
        h.on(.deployment(Self.int8Deployment))
        return h
    }

    @Test func aBatchInTheStampsEncodingIsStoredAsFloat32() throws {
        var h = harness()
        var batch = Base.batch(seq: 1, hyper: "h+int8")
        batch.activationEncoding = .int8
        h.on(.batch(1, batch))
        guard case .featureBatch(let forwarded)? = h.sent.first?.message else {
            Issue.record("not stored: \(h.actions)")
            return
        }
        // Decoded once on arrival: the registry gets float32 values, not a second quantisation.
        #expect(forwarded.activationEncoding == .float32)
        #expect(forwarded.activations == batch.activations)
        #expect(h.released.isEmpty)
    }

    @Test func aBatchInAnotherEncodingIsRefusedAndNeverStored() throws {
        var h = harness()
        // float32 frame under an int8 stamp.
        h.on(.batch(1, Base.batch(seq: 1, hyper: "h+int8")))
        guard case .batchRejected(let rejection)? = h.sent.first?.message else {
            Issue.record("no rejection: \(h.actions)")
            return
        }
        #expect(h.sent.count == 1)
        #expect(rejection.reason == RejectReason.invalid.wire)
        #expect(rejection.detail.contains("float32") && rejection.detail.contains("int8"))
        #expect(rejection.currentState.hyperHash == "h+int8")
        #expect(h.released == [1])
        #expect(h.actions.contains { if case .refuse(socket: "pull", reason: "wrongEncoding", _) = $0 { true } else { false } })
        // An unknown encoding suffix is refused the same way.
        var unknown = Base.batch(seq: 2, hyper: "h+int4")
        unknown.activationEncoding = .int8
        h.on(.batch(2, unknown))
        #expect(h.released == [2])
        #expect(h.actions.contains { if case .refuse(socket: "pull", reason: "wrongEncoding", _) = $0 { true } else { false } })
        #expect(!h.sent.contains { $0.message.kind == .featureBatch })
    }

    /// The encoding is in the stamp, so a phone still on float32 under an int8 deployment is stale.
    @Test func aFloat32StampUnderAnInt8DeploymentIsStaleHyperParameters() throws {
        var h = harness()
        h.on(.batch(1, Base.batch(seq: 1, hyper: "h")))
        guard case .batchRejected(let rejection)? = h.sent.first?.message else {
            Issue.record("no rejection: \(h.actions)")
            return
        }
        #expect(rejection.reason == RejectReason.staleHyper.wire)
    }

    @Test func theRecipeStampNamesItsEncodingAndFloat32HashesAsBefore() {
        let architecture = Base.architecture
        let optimizer = OptimizerConfig.sgd(learningRate: 0.05, momentum: 0, weightDecay: 0)
        // Without head interpolation (1), as recipes were before encodings and interpolation existed.
        let plain = TrainingRecipe(optimizer: optimizer, epochs: 5, batchSize: 32, headInterpolation: 1)
        let before = ContentHash.hyperParameters(
            optimizer, headArchitecture: architecture, freezePoint: FreezePoint(0), batchSize: 32,
            extra: ["epochs": "5"]
        ).hex
        #expect(plain.hash(architecture: architecture) == before)
        for encoding in ActivationEncoding.allCases where encoding != .float32 {
            let stamp = TrainingRecipe(
                optimizer: optimizer, epochs: 5, batchSize: 32, activationEncoding: encoding, headInterpolation: 1)
                .hash(architecture: architecture)
            #expect(stamp.hasSuffix("+\(encoding.rawValue)"))
            #expect(!stamp.hasPrefix(before))
            #expect(ActivationEncoding(stamp: stamp) == encoding)
        }
    }
}
