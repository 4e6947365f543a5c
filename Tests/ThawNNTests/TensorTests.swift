import Foundation
import Testing
import ThawNN

@Suite struct TensorTests {
    @Test func validatingInitRejectsBadInput() {
        #expect(throws: TensorError(.countMismatch, "shape [2, 3] holds 6 values, got 5")) {
            try Tensor(validatingShape: [2, 3], scalars: [1, 2, 3, 4, 5])
        }
        do {
            _ = try Tensor(validatingShape: [2, -1], scalars: [])
            Issue.record("negative shape accepted")
        } catch { #expect(error.code == .invalidShape) }
        do {
            _ = try Tensor(validatingShape: [2], scalars: [1, .nan])
            Issue.record("NaN accepted")
        } catch { #expect(error.code == .nonFinite) }
        #expect((try? Tensor(validatingShape: [1, 2], scalars: [1, 2])) == Tensor(shape: [1, 2], scalars: [1, 2]))
    }

    @Test func rowsGatherAndConcatenate() {
        let t = Tensor(shape: [3, 2], scalars: [0, 1, 10, 11, 20, 21])
        #expect(t.rows(1..<3) == Tensor(shape: [2, 2], scalars: [10, 11, 20, 21]))
        #expect(t.gatheringRows([2, 0, 2]) == Tensor(shape: [3, 2], scalars: [20, 21, 0, 1, 20, 21]))
        #expect(Tensor.concatenatingRows([t.rows(0..<1), t.rows(1..<3)]) == t)
        #expect(t.sampleShape == [2] && t.sampleCount == 2 && t.batchSize == 3)
    }

    @Test func elementaryFunctionsMatchFoundation() {
        for x in stride(from: -80.0, through: 80.0, by: 0.37) {
            let expected = Foundation.exp(x)
            #expect(abs(Elementary.exp(x) - expected) <= 1e-14 * expected)
        }
        for x in [1e-300, 1e-10, 0.1, 0.5, 0.999, 1, 1.0001, 2, 10, 12345.678, 1e300] {
            #expect(abs(Elementary.log(x) - Foundation.log(x)) <= 1e-14 * max(1, abs(Foundation.log(x))))
        }
        #expect(Elementary.exp(-1000) == 0)
        #expect(Elementary.log(0) == -.infinity)
    }

    @Test func seededGeneratorIsDeterministicAndGaussianIsStandard() {
        var a = SeededGenerator(seed: 7)
        var b = SeededGenerator(seed: 7)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        var g = SeededGenerator(seed: 8)
        let samples = (0..<20_000).map { _ in Double(g.nextGaussian()) }
        let mean = samples.reduce(0, +) / Double(samples.count)
        let variance = samples.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(samples.count)
        #expect(abs(mean) < 0.03)
        #expect(abs(variance - 1) < 0.05)
    }
}
