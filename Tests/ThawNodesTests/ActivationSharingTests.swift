import Testing
import ThawData
import ThawNN

@testable import ThawNodes

/// Equal backbone outputs of different phones held once (``ActivationInterner``), and the batched pass
/// that computes each distinct sample once (``DeviceFleet/backbonePass(_:on:samples:interner:)``).
@Suite struct ActivationSharingTests {
    private static let architecture = ModelArchitecture(
        inputShape: [1, 2, 2], layers: [.flatten, .dense(inputs: 4, outputs: 8), .relu, .dense(inputs: 8, outputs: 3)])

    private static func samples(_ count: Int) -> HandwritingSamples {
        var generator = SeededGenerator(seed: 5)
        let pixels = (0..<(4 * count)).map { _ in UInt8(generator.next() % 256) }
        return HandwritingSamples(
            rows: 2, columns: 2, pixels: pixels, labels: (0..<count).map { UInt8($0 % 3) },
            writers: [UInt16](repeating: 1, count: count))
    }

    private static func request(phone: Int, sample: UInt64, checkpoints: [Int] = []) -> BackboneRequest {
        BackboneRequest(
            phone: phone, sampleId: sample, modelVersion: ModelVersion(1), freezePoint: FreezePoint(3),
            checkpointsAt: checkpoints)
    }

    @Test func equalBitsShareOneStorageAndOtherBitsKeepTheirOwn() {
        let interner = ActivationInterner()
        let first = Activation(shape: [3], scalars: [1, 0, 2])
        let same = Activation(shape: [3], scalars: [1, 0, 2])
        let other = Activation(shape: [3], scalars: [1, 0, 2.5])
        #expect(first.storageIdentity != same.storageIdentity)
        let a = interner.intern(first, modelVersion: ModelVersion(1), layer: 3, sampleId: 9)
        let b = interner.intern(same, modelVersion: ModelVersion(1), layer: 3, sampleId: 9)
        #expect(a.storageIdentity == first.storageIdentity)
        #expect(b.storageIdentity == first.storageIdentity)
        #expect(b == same && b.scalars.map(\.bitPattern) == same.scalars.map(\.bitPattern))
        // Different bits under the same key (another batch rounded differently) are not shared.
        let c = interner.intern(other, modelVersion: ModelVersion(1), layer: 3, sampleId: 9)
        #expect(c.storageIdentity == other.storageIdentity)
        #expect(c.scalars == [1, 0, 2.5])
        // Another sample, layer or model version is another key.
        let d = interner.intern(
            Activation(shape: [3], scalars: [1, 0, 2.5]), modelVersion: ModelVersion(2), layer: 3, sampleId: 9)
        #expect(d.storageIdentity != other.storageIdentity)
        #expect(interner.lookup(modelVersion: ModelVersion(1), layer: 3, sampleId: 10) == nil)
        // -0.0 and +0.0 compare equal as floats but are not the same bits: not shared.
        let plus = interner.intern(Activation(shape: [2], scalars: [0, 1]), modelVersion: ModelVersion(1), layer: 1, sampleId: 1)
        let minus = interner.intern(Activation(shape: [2], scalars: [-0.0, 1]), modelVersion: ModelVersion(1), layer: 1, sampleId: 1)
        #expect(plus.storageIdentity != minus.storageIdentity)
        #expect(minus.scalars[0].sign == .minus)
    }

    @Test func pruningDropsOnlyWhatNoActivationHolds() {
        let interner = ActivationInterner(minimumPrune: 1_000_000)
        var kept: [Activation] = []
        for id in 0..<10 as Range<UInt64> {
            let activation = interner.intern(
                Activation(shape: [2], scalars: [Float(id), 1]), modelVersion: ModelVersion(1), layer: 3, sampleId: id)
            if id < 4 { kept.append(activation) }
        }
        #expect(interner.count == 10)
        interner.prune()
        #expect(interner.count == 4)
        for (id, activation) in kept.enumerated() {
            #expect(interner.lookup(modelVersion: ModelVersion(1), layer: 3, sampleId: UInt64(id))?.storageIdentity == activation.storageIdentity)
        }
        kept.removeAll()
        interner.prune()
        #expect(interner.count == 0)
    }

    @Test func aBatchedPassComputesEachDistinctSampleOnceAndChargesEveryPhone() {
        let samples = Self.samples(6)
        let model = Model(architecture: Self.architecture, seed: 3)
        let backbone = BackboneModel(version: ModelVersion(1), model: model)
        let interner = ActivationInterner()
        // Three phones of one writer ask for sample 2, two for sample 4, one for sample 5.
        let chunk = [(0, 2), (1, 2), (2, 4), (3, 2), (4, 4), (5, 5)].map {
            Self.request(phone: $0.0, sample: UInt64($0.1), checkpoints: [2])
        }
        let shared = DeviceFleet.backbonePass(chunk, on: backbone, samples: samples, interner: interner)
        let alone = DeviceFleet.backbonePass(chunk, on: backbone, samples: samples, interner: nil)
        #expect(shared.computed == 3)
        #expect(alone.computed == 3)
        #expect(shared.requests.map(\.phone) == [0, 1, 2, 3, 4, 5])
        #expect(shared.outputs.count == 6 && shared.checkpoints.count == 6)
        // Every phone gets what the model computes for its sample, and one sample's FLOPs.
        for (row, request) in chunk.enumerated() {
            let expected = model.forward(
                Tensor(shape: [1, 1, 2, 2], scalars: samples.floatPixels([Int(request.sampleId)])), layers: 0..<3,
                training: false)
            #expect(shared.outputs[row].shape == expected.sampleShape)
            #expect(zip(shared.outputs[row].scalars, expected.scalars).allSatisfy { abs($0 - $1) < 1e-5 })
            #expect(shared.checkpoints[row].keys.sorted() == [2])
            #expect(shared.outputs[row] == alone.outputs[row])
        }
        #expect(shared.flopsPerSample == alone.flopsPerSample)
        #expect(shared.flopsPerSample.forward == Self.architecture.forwardFLOPs(layers: 0..<3, samples: 1))
        // The phones of one sample hold one storage.
        #expect(shared.outputs[0].storageIdentity == shared.outputs[1].storageIdentity)
        #expect(shared.outputs[0].storageIdentity == shared.outputs[3].storageIdentity)
        #expect(shared.outputs[0].storageIdentity != shared.outputs[2].storageIdentity)
        // A later pass for samples already held computes nothing and hands out the same storage.
        let later = DeviceFleet.backbonePass(
            [Self.request(phone: 9, sample: 4, checkpoints: [2]), Self.request(phone: 8, sample: 3, checkpoints: [2])],
            on: backbone, samples: samples, interner: interner)
        #expect(later.computed == 1)
        #expect(later.outputs[0].storageIdentity == shared.outputs[2].storageIdentity)
        #expect(later.checkpoints[0][2]?.storageIdentity == shared.checkpoints[2][2]?.storageIdentity)
        // A request for checkpoints not held is computed.
        let deeper = DeviceFleet.backbonePass(
            [Self.request(phone: 9, sample: 4, checkpoints: [1, 2])], on: backbone, samples: samples, interner: interner)
        #expect(deeper.computed == 1)
        #expect(deeper.checkpoints[0].keys.sorted() == [1, 2])
    }

    @Test func aRebuildUsesAnOutputAnotherPhoneAlreadyHasAndChargesTheStep() {
        let samples = Self.samples(4)
        let dataset = HandwritingDataset(train: samples, test: samples)
        let model = Model(architecture: Self.architecture, seed: 3)
        let backbone = BackboneModel(version: ModelVersion(1), model: model)
        let interner = ActivationInterner()
        let plan = RebuildPlan(
            modelVersion: ModelVersion(1), target: FreezePoint(3), steps: [.init(sampleId: 1, source: .rawInput)])
        let first = plan.run(phone: 1, on: backbone, dataset: dataset, interner: interner)
        let second = plan.run(phone: 2, on: backbone, dataset: dataset, interner: interner)
        let alone = plan.run(phone: 3, on: backbone, dataset: dataset)
        #expect(first.outputs[0].storageIdentity == second.outputs[0].storageIdentity)
        #expect(second.outputs[0] == alone.outputs[0])
        #expect(second.flops == alone.flops)
    }
}
