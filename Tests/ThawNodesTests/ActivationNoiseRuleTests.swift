import Testing
import ThawModel
import ThawNN
import ThawWire

@testable import ThawNodes

/// The noise rule a phone applies to its uploads: the clipping bound, the noise's statistics, the keyed
/// generator that makes re-sends identical, and the stamp that keeps differently noised batches apart.
@Suite struct ActivationNoiseRuleTests {
    static func rows(_ count: Int, width: Int, scale: Float, seed: UInt64 = 3) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<(count * width)).map { index in
            // Row r is scaled by (r + 1): some rows are far above the clip, some below.
            scale * Float(index / width + 1) * (2 * generator.nextUnitFloat() - 1)
        }
    }

    static func norm(_ row: ArraySlice<Float>) -> Double {
        row.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
    }

    @Test func clippingBoundsEveryRowAndLeavesShortRowsUnchanged() throws {
        let noise = try ActivationNoise(clip: 3, sigma: 0)
        let width = 64
        let original = Self.rows(10, width: width, scale: 0.2)
        var values = original
        noise.apply(to: &values, valuesPerRow: width) { _ in SeededGenerator(seed: 1) }
        var clipped = 0
        for row in 0..<10 {
            let range = (row * width)..<((row + 1) * width)
            let before = Self.norm(original[range])
            let after = Self.norm(values[range])
            #expect(after <= 3 * (1 + 1e-6))
            if before <= 3 {
                #expect(Array(values[range]) == Array(original[range]), "row \(row) was within the bound")
            } else {
                clipped += 1
                #expect(abs(after - 3) < 1e-4, "a clipped row lands on the bound")
                // Clipping scales; it does not change the direction.
                #expect(abs(Double(values[range.lowerBound]) / Double(original[range.lowerBound]) - 3 / before) < 1e-5)
            }
        }
        #expect(clipped > 0 && clipped < 10)
    }

    @Test func noiseHasZeroMeanAndSigmaTimesClipDeviation() throws {
        let noise = try ActivationNoise(clip: 2, sigma: 0.25)
        let width = 1000
        // Zero rows: whatever comes out is the noise alone.
        var values = [Float](repeating: 0, count: 50 * width)
        noise.apply(to: &values, valuesPerRow: width) { SeededGenerator.derived(seed: 9, stream: UInt64($0)) }
        let n = Double(values.count)
        let mean = values.reduce(0) { $0 + Double($1) } / n
        let variance = values.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / (n - 1)
        // 50,000 draws: the mean's standard error is 0.5/√50000 ≈ 0.0022; the deviation's ≈ 0.0016.
        #expect(abs(mean) < 0.01)
        #expect(abs(variance.squareRoot() - 0.5) < 0.01)
        let within = values.filter { abs($0) <= 0.5 }.count
        #expect(abs(Double(within) / n - 0.6827) < 0.01, "a normal distribution, not just the right variance")
    }

    @Test func theKeyedGeneratorRepeatsPerRowAndDiffersAcrossRows() {
        let key = UploadNoiseKey(secret: 42)
        var a = key.generator(device: "phone-1", sampleId: 7, freezePoint: 7, stamp: "h+noise:1.0:0.1")
        var b = key.generator(device: "phone-1", sampleId: 7, freezePoint: 7, stamp: "h+noise:1.0:0.1")
        #expect(a.next() == b.next(), "a re-sent row carries the same noise")
        let first = key.generator(device: "phone-1", sampleId: 7, freezePoint: 7, stamp: "h+noise:1.0:0.1")
        let others = [
            key.generator(device: "phone-1", sampleId: 8, freezePoint: 7, stamp: "h+noise:1.0:0.1"),
            key.generator(device: "phone-2", sampleId: 7, freezePoint: 7, stamp: "h+noise:1.0:0.1"),
            key.generator(device: "phone-1", sampleId: 7, freezePoint: 6, stamp: "h+noise:1.0:0.1"),
            key.generator(device: "phone-1", sampleId: 7, freezePoint: 7, stamp: "h+noise:1.0:0.2"),
            UploadNoiseKey(secret: 43).generator(device: "phone-1", sampleId: 7, freezePoint: 7, stamp: "h+noise:1.0:0.1"),
        ]
        var reference = first
        let expected = reference.next()
        for var other in others { #expect(other.next() != expected) }
        // Two processes draw different secrets.
        #expect(UploadNoiseKey.random().secret != UploadNoiseKey.random().secret)
    }

    @Test func theRecipeStampNamesTheNoiseAndChangesWithIt() throws {
        let architecture = ModelArchitecture.smallCNN()
        let plain = TrainingRecipe(optimizer: .sgd(learningRate: 0.05, momentum: 0, weightDecay: 0), epochs: 5, batchSize: 32)
        var noised = plain
        noised.activationNoise = try ActivationNoise(clip: 8, sigma: 0.1)
        var louder = noised
        louder.activationNoise = try ActivationNoise(clip: 8, sigma: 0.2)
        var int8 = noised
        int8.activationEncoding = .int8
        let stamps = [plain, noised, louder, int8].map { $0.hash(architecture: architecture) }
        #expect(Set(stamps).count == 4)
        #expect(!stamps[0].contains("+"), "a recipe without noise stamps as before")
        #expect(stamps[1].hasSuffix("+noise:8.0:0.1") && stamps[3].hasSuffix("+int8+noise:8.0:0.1"))
        // The hex differs too, not only the suffix: a client that compares stamps whole cannot confuse them.
        #expect(stamps[1].split(separator: "+")[0] != stamps[2].split(separator: "+")[0])
        #expect(UploadRule(stamp: stamps[3]) == int8.uploadRule)
    }

    @Test func theWorkersFenceAcceptsANoisedBatchInItsEncoding() throws {
        let stamp = UploadRule(encoding: .int8, noise: try ActivationNoise(clip: 1, sigma: 0.5)).stamp(hash: "h")
        var batch = TrainerWorkerStateMachineTests.batch(seq: 1, hyper: stamp)
        #expect(ActivationEncodingFence.check(batch)?.reason == .wrongEncoding, "float32 frame under an int8 stamp")
        batch.activationEncoding = .int8
        #expect(ActivationEncodingFence.check(batch) == nil)
    }

    @Test func theWorkersFenceRefusesAMalformedNoisePart() {
        for stamp in ["h+noise:0:0.5", "h+noise:1.0", "h+noise:1.0:0.5+int8"] {
            let violation = ActivationEncodingFence.check(TrainerWorkerStateMachineTests.batch(seq: 1, hyper: stamp))
            #expect(violation?.reason == .wrongEncoding, "\(stamp)")
        }
    }
}
