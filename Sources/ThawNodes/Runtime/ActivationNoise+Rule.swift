import ThawNN
import ThawWire

extension ActivationNoise {
    /// Clips `row` to L2 norm ≤ ``clip``: when `‖row‖₂ > clip` every value is multiplied by
    /// `Float(clip / ‖row‖₂)`, the norm summed in Double. A row within the bound is left bit-identical,
    /// so clipping alone (sigma 0) changes nothing for the rows it does not bind.
    public func clipRow(_ row: inout ArraySlice<Float>) {
        var squares = 0.0
        for value in row { squares += Double(value) * Double(value) }
        let norm = squares.squareRoot()
        guard norm > clip else { return }
        let factor = Float(clip / norm)
        for index in row.indices { row[index] *= factor }
    }

    /// The whole rule on one row: ``clipRow(_:)``, then `+ Float(sigma·clip) · z` per value with `z` a
    /// standard normal drawn from `generator` in value order (Marsaglia's polar method, ThawNN's
    /// ``SeededGenerator/nextGaussian()``). With sigma 0 no number is drawn.
    public func apply(toRow row: inout ArraySlice<Float>, using generator: inout SeededGenerator) {
        clipRow(&row)
        guard sigma > 0 else { return }
        let deviation = Float(standardDeviation)
        for index in row.indices { row[index] += deviation * generator.nextGaussian() }
    }

    /// The rule on every row of a row-major `[rows, valuesPerRow]` buffer, row r with `generators(r)`.
    public func apply(
        to values: inout [Float], valuesPerRow: Int, generator: (Int) -> SeededGenerator
    ) {
        precondition(valuesPerRow > 0 && values.count % valuesPerRow == 0, "values must be whole rows")
        for row in 0..<(values.count / valuesPerRow) {
            var rng = generator(row)
            let range = (row * valuesPerRow)..<((row + 1) * valuesPerRow)
            apply(toRow: &values[range], using: &rng)
        }
    }
}

/// Where a phone's noise comes from: a secret drawn from the operating system's random source when
/// the device process starts, never uploaded, never derived from anything the cloud knows.
///
/// Why not a reproducible seed (the topology's `seed`): whoever can regenerate the noise can subtract
/// it, and the cloud has the topology. Why keyed per row instead of one running stream: a batch that is
/// re-sent (at-least-once delivery) or re-uploaded under the same stamp carries the *same* noise, so a
/// curious cloud cannot average retries to remove it. The row's generator is SplitMix64 seeded from the
/// secret, the device, the sample, the freeze point and the stamp: unpredictable without the secret for
/// the honest-but-curious cloud studied here, though not a cryptographic stream cipher (a production
/// phone would key a CSPRNG such as ChaCha20 the same way). A process restart draws a new secret, so a
/// sample uploaded again after a restart carries fresh noise (docs/PRIVACY.md, "What it does not protect").
public struct UploadNoiseKey: Sendable {
    let secret: UInt64

    /// A key from `SystemRandomNumberGenerator` (getrandom(2) on Linux).
    public static func random() -> UploadNoiseKey {
        var system = SystemRandomNumberGenerator()
        return UploadNoiseKey(secret: system.next())
    }

    /// A fixed key, for tests and for experiments that must be repeatable (never for a deployment).
    public init(secret: UInt64) { self.secret = secret }

    /// The generator for one uploaded row.
    public func generator(device: String, sampleId: UInt64, freezePoint: Int, stamp: String) -> SeededGenerator {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in device.utf8 + [0] + stamp.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let stream = (sampleId &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(freezePoint) &* 0xC2B2_AE3D_27D4_EB4F) ^ hash
        return SeededGenerator.derived(seed: secret, stream: stream)
    }
}
