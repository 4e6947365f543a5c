/// Splits each writer's samples into adaptation and evaluation parts, deterministically.
///
/// The shuffle of a writer's samples is seeded by `seed` and the writer id only, and it starts from
/// the samples sorted by their position in the file. So a writer's split is the same whatever other
/// writers are loaded and whatever order the caller asks in.
public struct UserSplitter: Sendable, Equatable {
    /// Share of each writer's samples that goes to adaptation (the rest is evaluation).
    public let adaptationFraction: Double
    public let seed: UInt64

    public init(adaptationFraction: Double = 0.5, seed: UInt64 = 0) {
        precondition(adaptationFraction > 0 && adaptationFraction < 1, "adaptationFraction must be in (0, 1)")
        self.adaptationFraction = adaptationFraction
        self.seed = seed
    }

    /// The split of `writer` within `samples`; both parts are sorted ascending.
    public func split(_ samples: HandwritingSamples, writer: UInt16) -> UserSplit {
        split(indices: samples.writers.indices.filter { samples.writers[$0] == writer }, writer: writer)
    }

    /// Splits every writer of `samples`, ascending by writer id.
    public func splitAll(_ samples: HandwritingSamples) -> [UserSplit] {
        samples.indicesByWriter.sorted { $0.key < $1.key }.map { split(indices: $0.value, writer: $0.key) }
    }

    /// Splits the given sample indices of one writer.
    public func split(indices: [Int], writer: UInt16) -> UserSplit {
        var order = indices.sorted()
        var rng = SplitMix64(seed: seed ^ (UInt64(writer) &* 0x9E37_79B9_7F4A_7C15))
        if order.count > 1 {
            for i in stride(from: order.count - 1, to: 0, by: -1) {
                let j = Int(rng.next() % UInt64(i + 1))
                order.swapAt(i, j)
            }
        }
        // At least one sample on each side when the writer has two or more.
        var cut = Int((Double(order.count) * adaptationFraction).rounded())
        if order.count >= 2 { cut = min(max(cut, 1), order.count - 1) }
        return UserSplit(writer: writer, adaptation: order[..<cut].sorted(), evaluation: order[cut...].sorted())
    }
}

/// SplitMix64 (Steele et al.): tiny, fast and fully specified, so splits are reproducible across
/// platforms and Swift versions (unlike `SystemRandomNumberGenerator`).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
