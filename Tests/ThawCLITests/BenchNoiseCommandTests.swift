import ArgumentParser
import Testing
import ThawNN
import ThawSimulation
import ThawWire

@testable import thaw

/// `thaw bench noise`: its options, and the attack's closed-form decoder against a known linear map.
@Suite struct BenchNoiseCommandTests {
    @Test func parsesSigmasAndEncodings() throws {
        let parsed = try Thaw.parseAsRoot(["bench", "noise", "--sigmas", "0, 0.1,2", "--encodings", "float32,int8"])
        let command = try #require(parsed as? BenchNoiseCommand)
        #expect(command.sigmaValues == [0, 0.1, 2])
        #expect(command.encodingValues == [.float32, .int8])
    }

    @Test func refusesImpossibleSettings() {
        for arguments in [
            ["--sigmas", "-1"], ["--sigmas", "x"], ["--sigmas", "5000"], ["--encodings", "int4"], ["--clip", "0"],
            ["--clip-quantile", "0"], ["--attack-samples", "1"], ["--ridge", "0"],
        ] {
            #expect(throws: (any Error).self, "\(arguments)") { try Thaw.parseAsRoot(["bench", "noise"] + arguments) }
        }
    }

    @Test func theRidgeDecoderRecoversALinearMap() {
        // X = 0.5 + A·W exactly; with a tiny ridge the fit must find W and both means.
        let (n, d, p) = (300, 12, 5)
        var generator = SeededGenerator(seed: 11)
        let a = (0..<(n * d)).map { _ in generator.nextGaussian() + 2 }
        let w = (0..<(d * p)).map { _ in generator.nextGaussian() }
        var x = [Float](repeating: 0.5, count: n * p)
        for row in 0..<n {
            for column in 0..<p {
                for k in 0..<d { x[row * p + column] += a[row * d + k] * w[k * p + column] }
            }
        }
        let statistics = RidgeDecoder.Statistics(inputs: a, outputs: x, samples: n)
        let decoder = RidgeDecoder(statistics: statistics, lambda: 1e-6 * statistics.meanDiagonal)
        let decoded = decoder.decode(a, rows: n)
        let worst = zip(decoded, x).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst < 1e-3, "largest error \(worst)")
        // A large ridge shrinks towards the mean output.
        let shrunk = RidgeDecoder(statistics: statistics, lambda: 1e9 * statistics.meanDiagonal).decode(Array(a.prefix(d)), rows: 1)
        let mean = (0..<p).map { column in (0..<n).reduce(Float(0)) { $0 + x[$1 * p + column] } / Float(n) }
        #expect(zip(shrunk, mean).allSatisfy { abs($0 - $1) < 1e-3 })
    }
}
