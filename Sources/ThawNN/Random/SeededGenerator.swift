/// A deterministic random number generator (SplitMix64) for initialisation, dropout masks and synthetic data.
///
/// The same seed always yields the same sequence on every platform, which is what makes two models built with
/// the same seed bit-identical. It is a value type: copying it forks the sequence.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform value in [0, 1) with 24 random bits.
    public mutating func nextUnitFloat() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// A uniform value in [0, 1) with 53 random bits.
    public mutating func nextUnitDouble() -> Double {
        Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// A standard normal value (Marsaglia's polar method, computed in Double).
    ///
    /// The polar method needs only a logarithm and a square root, which ThawNN computes itself
    /// (``Elementary``) so that it stays free of Foundation and libm and gives the same bits everywhere.
    public mutating func nextGaussian() -> Float {
        while true {
            let u = 2 * nextUnitDouble() - 1
            let v = 2 * nextUnitDouble() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return Float(u * (-2 * Elementary.log(s) / s).squareRoot())
            }
        }
    }

    /// A generator for a sub-stream (for example one per layer), independent of how far this one has run.
    public static func derived(seed: UInt64, stream: UInt64) -> SeededGenerator {
        var mixer = SeededGenerator(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        return SeededGenerator(seed: mixer.next())
    }
}
