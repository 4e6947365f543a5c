import Testing
import ThawWire

/// SplitMix64: a tiny seeded generator so that a failing garbage case can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Decoding arbitrary or corrupted frames must never trap; it either returns a message or throws
/// `WireError` (typed throws make anything else impossible, so "no crash" is the property under test).
@Suite struct GarbageTests {
    static let seeds: [UInt64] = [1, 2, 3]

    @Test(arguments: seeds)
    func randomFramesNeverCrash(seed: UInt64) {
        var rng = SplitMix64(state: seed)
        var outcomes = Outcomes()
        for _ in 0..<2_000 {
            let frameCount = Int.random(in: 0...5, using: &rng)
            let frames = (0..<frameCount).map { _ in randomBytes(count: Int.random(in: 0...64, using: &rng), &rng) }
            outcomes.record { () throws(WireError) in try WireCodec.decode(frames) }
            outcomes.record { () throws(WireError) in try WireCodec.decodePublished(frames) }
        }
        #expect(outcomes.failures > 0)
    }

    @Test(arguments: seeds)
    func mutatedValidMessagesNeverCrash(seed: UInt64) throws {
        var rng = SplitMix64(state: seed)
        let encoded = try Samples.all.map { try WireCodec.encode($0.message, metadata: Samples.metadata) }
        var outcomes = Outcomes()
        for _ in 0..<3_000 {
            var frames = encoded[Int.random(in: 0..<encoded.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                mutate(&frames, &rng)
            }
            outcomes.record { () throws(WireError) in try WireCodec.decode(frames) }
        }
        // Most mutations must be caught; a few (a flipped bit in a string or a number) stay valid.
        #expect(outcomes.failures > outcomes.successes)
    }

    // MARK: helpers

    struct Outcomes {
        var successes = 0
        var failures = 0
        mutating func record(_ body: () throws(WireError) -> DecodedMessage) {
            do {
                _ = try body()
                successes += 1
            } catch {
                failures += 1
            }
        }
    }

    func randomBytes(count: Int, _ rng: inout SplitMix64) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    func mutate(_ frames: inout [[UInt8]], _ rng: inout SplitMix64) {
        guard !frames.isEmpty else {
            frames.append(randomBytes(count: 8, &rng))
            return
        }
        let index = Int.random(in: 0..<frames.count, using: &rng)
        switch Int.random(in: 0..<7, using: &rng) {
        case 0 where !frames[index].isEmpty:  // flip one bit
            let byte = Int.random(in: 0..<frames[index].count, using: &rng)
            frames[index][byte] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
        case 1 where !frames[index].isEmpty:  // overwrite one byte
            let byte = Int.random(in: 0..<frames[index].count, using: &rng)
            frames[index][byte] = UInt8.random(in: 0...255, using: &rng)
        case 2:  // truncate
            frames[index].removeLast(Int.random(in: 0...frames[index].count, using: &rng))
        case 3:  // insert random bytes
            let at = Int.random(in: 0...frames[index].count, using: &rng)
            frames[index].insert(contentsOf: randomBytes(count: Int.random(in: 1...8, using: &rng), &rng), at: at)
        case 4:  // drop a frame
            frames.remove(at: index)
        case 5:  // duplicate a frame
            frames.insert(frames[index], at: index)
        default:  // swap two frames
            frames.swapAt(index, Int.random(in: 0..<frames.count, using: &rng))
        }
    }
}
