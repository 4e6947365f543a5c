/// A tensor value as the device logic sees it: a shape and row-major scalars.
///
/// The device state machine never computes with activations; it stores, counts and forwards them. The
/// glue converts to and from `ThawNN.Tensor` at the edge.
///
/// Stored compactly (``CompactScalars``): a cached backbone output after a ReLU (and max-pool) is
/// mostly exact zeros, and a device process holds thousands of them, so only the non-zero scalars are
/// kept, behind a bitmask. The form is lossless to the bit: ``scalars`` gives back exactly the values
/// stored. The cache's budget still counts 4 bytes per scalar (``byteCount``), so its rules are those of
/// an uncompressed phone; ``storedByteCount`` is what the simulator really holds.
public struct Activation: Sendable, Equatable {
    public var shape: [Int]
    /// Immutable and shared by reference: copies of an activation (a prediction-cache entry, a snapshot
    /// waiting for its commit, a batch being sent) and equal outputs of other phones
    /// (``ActivationInterner``) hold one buffer.
    var storage: ScalarStorage

    /// - Precondition: the shape's element count equals `scalars.count` (validated at the edge).
    public init(shape: [Int], scalars: [Float]) {
        precondition(
            shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == scalars.count,
            "activation shape \(shape) does not hold \(scalars.count) scalars")
        self.shape = shape
        self.storage = ScalarStorage(CompactScalars(scalars))
    }

    /// An activation of `shape` over existing storage (``ActivationInterner``).
    init(shape: [Int], storage: ScalarStorage) {
        precondition(shape.reduce(1, *) == storage.scalars.count, "activation shape \(shape) does not hold \(storage.scalars.count) scalars")
        self.shape = shape
        self.storage = storage
    }

    /// The same scalars as `other` under another shape (a checkpoint equal to the output it precedes,
    /// such as a max-pool's output and its flattened copy), sharing `other`'s storage.
    ///
    /// - Precondition: the shape's element count equals `other.count`.
    init(shape: [Int], sharing other: Activation) {
        precondition(shape.reduce(1, *) == other.count, "activation shape \(shape) does not hold \(other.count) scalars")
        self.shape = shape
        self.storage = other.storage
    }

    /// Whether both hold the same scalars bit for bit (whatever their shapes).
    func hasSameBits(as other: Activation) -> Bool { storage.scalars.hasSameBits(as: other.storage.scalars) }

    /// Every scalar, row-major, decoded from the compact form (allocates: read it once per use).
    public var scalars: [Float] {
        get { storage.scalars.decoded() }
        set { storage = ScalarStorage(CompactScalars(newValue)) }
    }

    /// Number of scalars.
    public var count: Int { storage.scalars.count }

    /// Appends every scalar to `target` without an intermediate array (batches, stacked inputs).
    public func append(to target: inout [Float]) { storage.scalars.append(to: &target) }

    /// Payload size in bytes as a phone would hold it (4 per scalar); the shape's few integers are not
    /// counted. The cache budget is in these bytes.
    public var byteCount: Int { storage.scalars.count * MemoryLayout<Float>.size }

    /// Bytes the compact form really occupies (mask and non-zero values).
    public var storedByteCount: Int { storage.scalars.storedByteCount }

    /// Which storage holds the scalars: activations that share it (a checkpoint equal to its output, a
    /// prediction-cache entry of a cached output, equal outputs of several phones) have the same one.
    /// For memory accounting only.
    var storageIdentity: UInt { UInt(bitPattern: ObjectIdentifier(storage).hashValue) }

    /// Equal when the shapes and the scalars compare equal as floats (as before the compact form:
    /// `0.0 == -0.0`, a NaN equals nothing).
    public static func == (lhs: Activation, rhs: Activation) -> Bool {
        let (left, right) = (lhs.storage.scalars, rhs.storage.scalars)
        return lhs.shape == rhs.shape && (left.words == right.words && left.isFinite || lhs.scalars == rhs.scalars)
    }
}

/// The scalars of one or more ``Activation``s, immutable, shared by reference.
final class ScalarStorage: Sendable {
    let scalars: CompactScalars

    init(_ scalars: CompactScalars) {
        self.scalars = scalars
    }
}

/// Scalars stored losslessly without their zeros: a bitmask of the non-zero positions followed by the
/// non-zero values' bit patterns, in one buffer. "Zero" is the bit pattern of `+0.0` only, so `-0.0`,
/// NaNs and every other value come back bit for bit. When fewer than about 1 in 32 scalars is zero the
/// mask costs more than it saves and the bit patterns are stored as they are.
struct CompactScalars: Sendable {
    let count: Int
    /// Sparse: `maskWords` mask words (bit i of word w set: scalar 32w + i is non-zero), then the
    /// non-zero bit patterns in order. Dense: every bit pattern.
    let words: [UInt32]
    let sparse: Bool
    /// No NaN among the scalars (then equal words mean equal floats).
    let isFinite: Bool

    init(_ scalars: [Float]) {
        count = scalars.count
        let maskWords = (scalars.count + 31) / 32
        var nonZero = 0
        var finite = true
        for scalar in scalars {
            if scalar.bitPattern != 0 { nonZero += 1 }
            if scalar.isNaN { finite = false }
        }
        isFinite = finite
        guard maskWords + nonZero < scalars.count else {
            sparse = false
            words = scalars.map(\.bitPattern)
            return
        }
        sparse = true
        words = [UInt32](unsafeUninitializedCapacity: maskWords + nonZero) { buffer, initialized in
            for word in 0..<maskWords { buffer[word] = 0 }
            var next = maskWords
            for (index, scalar) in scalars.enumerated() where scalar.bitPattern != 0 {
                buffer[index >> 5] |= 1 << UInt32(index & 31)
                buffer[next] = scalar.bitPattern
                next += 1
            }
            initialized = next
        }
    }

    var storedByteCount: Int { words.count * MemoryLayout<UInt32>.size }

    func hasSameBits(as other: CompactScalars) -> Bool { count == other.count && sparse == other.sparse && words == other.words }

    func decoded() -> [Float] {
        var result: [Float] = []
        result.reserveCapacity(count)
        append(to: &result)
        return result
    }

    func append(to target: inout [Float]) {
        guard sparse else {
            target.append(contentsOf: words.lazy.map(Float.init(bitPattern:)))
            return
        }
        let start = target.count
        target.append(contentsOf: repeatElement(0, count: count))
        let maskWords = (count + 31) / 32
        words.withUnsafeBufferPointer { words in
            target.withUnsafeMutableBufferPointer { out in
                var next = maskWords
                for word in 0..<maskWords {
                    var bits = words[word]
                    while bits != 0 {
                        let bit = bits.trailingZeroBitCount
                        out[start + word << 5 + bit] = Float(bitPattern: words[next])
                        next += 1
                        bits &= bits - 1
                    }
                }
            }
        }
    }
}
