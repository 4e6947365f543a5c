import ThawNN
import ThawNodes

/// Seeded mutations of valid inputs: what a hostile or broken peer does to a message or a file.
///
/// Byte level: bit flips, "interesting" bytes, truncation, insertion, deletion, duplication of a range,
/// splicing with another corpus entry, little-endian integers that make length and count fields lie
/// (0, 1, 2³¹, 2³², 2⁴⁰, all ones), protobuf varints of absurd size, and NaN/∞ written over floats.
/// Frame level (messages are lists of frames): dropping, duplicating, swapping, emptying or adding
/// frames. Every choice comes from one ``SeededGenerator``, so a run is reproducible from its seed.
struct FuzzMutator {
    var random: SeededGenerator

    init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    /// Little-endian values that make length, count and dimension fields lie.
    static let interestingIntegers: [UInt64] = [
        0, 1, 2, 3, 4, 7, 8, 16, 127, 128, 255, 256, 1 << 15, 1 << 16, 1 << 24, 1 << 31, (1 << 32) - 1, 1 << 32,
        1 << 40, 1 << 62, UInt64(Int64.max), UInt64.max,
    ]
    static let interestingBytes: [UInt8] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x08, 0x10, 0x12, 0x1A, 0x22]
    /// NaN, +∞, −∞, the largest float, a subnormal.
    static let interestingFloats: [UInt32] = [0x7FC0_0000, 0x7F80_0000, 0xFF80_0000, 0x7F7F_FFFF, 0x0000_0001]

    mutating func below(_ bound: Int) -> Int { bound <= 1 ? 0 : Int(random.next() % UInt64(bound)) }

    /// A mutated copy of `frames`: one to four stacked mutations, sometimes spliced with `other`.
    mutating func mutate(_ frames: [[UInt8]], other: [[UInt8]]?) -> [[UInt8]] {
        var result = frames.isEmpty ? [[]] : frames
        for _ in 0...below(4) {
            if below(5) == 0 {
                result = mutateFrames(result, other: other)
            } else {
                let index = below(result.count)
                let donor = other.flatMap { $0.isEmpty ? nil : $0[below($0.count)] }
                result[index] = mutateBytes(result[index], donor: donor)
            }
        }
        return result
    }

    mutating func mutateFrames(_ frames: [[UInt8]], other: [[UInt8]]?) -> [[UInt8]] {
        var result = frames
        switch below(6) {
        case 0 where result.count > 1: result.remove(at: below(result.count))
        case 1: result.insert(result[below(result.count)], at: below(result.count + 1))
        case 2 where result.count > 1: result.swapAt(below(result.count), below(result.count))
        case 3: result[below(result.count)] = []
        case 4: result.insert(randomBytes(below(64)), at: below(result.count + 1))
        default:
            // Crossover: a prefix of our frames followed by a suffix of another input's.
            if let other, !other.isEmpty {
                result = Array(result.prefix(below(result.count) + 1)) + Array(other.suffix(below(other.count + 1)))
            }
        }
        return result
    }

    mutating func mutateBytes(_ bytes: [UInt8], donor: [UInt8]?) -> [UInt8] {
        var data = bytes
        switch below(11) {
        case 0 where !data.isEmpty:
            let index = below(data.count)
            data[index] ^= UInt8(1 << below(8))
        case 1 where !data.isEmpty:
            data[below(data.count)] = Self.interestingBytes[below(Self.interestingBytes.count)]
        case 2 where !data.isEmpty:
            data.removeLast(below(data.count) + 1)
        case 3:
            data.insert(contentsOf: randomBytes(below(16) + 1), at: below(data.count + 1))
        case 4 where data.count > 1:
            let start = below(data.count)
            data.removeSubrange(start..<min(data.count, start + below(32) + 1))
        case 5 where !data.isEmpty:
            let start = below(data.count)
            let slice = data[start..<min(data.count, start + below(64) + 1)]
            data.insert(contentsOf: slice, at: below(data.count + 1))
        case 6 where !data.isEmpty:
            // A little-endian integer of 1, 2, 4 or 8 bytes over whatever field is there.
            let width = [1, 2, 4, 8][below(4)]
            let value = Self.interestingIntegers[below(Self.interestingIntegers.count)]
            let start = below(data.count)
            for offset in 0..<width where start + offset < data.count {
                data[start + offset] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(offset)))
            }
        case 7:
            // A protobuf varint of an absurd value (a length, a count, a dimension, a field number).
            let value = Self.interestingIntegers[below(Self.interestingIntegers.count)]
            let at = below(data.count + 1)
            if below(2) == 0, at < data.count { data.removeSubrange(at..<min(data.count, at + 1 + below(4))) }
            data.insert(contentsOf: Self.varint(value), at: min(at, data.count))
        case 8 where data.count >= 4:
            let start = below(data.count / 4) * 4
            let bits = Self.interestingFloats[below(Self.interestingFloats.count)]
            for offset in 0..<4 { data[start + offset] = UInt8(truncatingIfNeeded: bits >> (8 * UInt32(offset))) }
        case 9:
            if let donor, !donor.isEmpty {
                let cut = below(data.count + 1)
                let from = below(donor.count)
                data = Array(data.prefix(cut)) + Array(donor[from...])
            }
        default:
            if !data.isEmpty { data[below(data.count)] = UInt8(truncatingIfNeeded: random.next()) }
        }
        return data
    }

    mutating func randomBytes(_ count: Int) -> [UInt8] {
        (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    static func varint(_ value: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        var rest = value
        repeat {
            let low = UInt8(rest & 0x7F)
            rest >>= 7
            bytes.append(rest == 0 ? low : low | 0x80)
        } while rest != 0
        return bytes
    }
}
