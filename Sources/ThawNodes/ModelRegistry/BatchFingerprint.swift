import Crypto
import ThawNN

/// What makes a redelivered batch "the same batch" (issue #12, bug 2).
///
/// - `identity`: SHA-256 over the user, the sample ids and the labels, in batch order. A redelivery
///   under the same `(device, seq)` must have the same identity: anything else is another batch reusing
///   the key, and is refused as a conflict (never acknowledged).
/// - `content`: SHA-256 over the identity plus the stamps and every activation value. Under the same
///   stamps a redelivery must also have the same content. Under other stamps (a device that moved to a
///   deeper freeze point re-sends the same sequence with advanced activations, docs/FREEZE-MOVES.md) only
///   the identity is compared.
public struct BatchFingerprint: Hashable, Sendable {
    public var identity: String
    public var content: String

    public init(identity: String, content: String) {
        self.identity = identity
        self.content = content
    }

    public init(_ batch: FeatureBatch) {
        var id = SHA256()
        func put(_ string: String, into hasher: inout SHA256) {
            let bytes = Array(string.utf8)
            put(UInt64(bytes.count), into: &hasher)
            hasher.update(data: bytes)
        }
        func put(_ value: UInt64, into hasher: inout SHA256) {
            withUnsafeBytes(of: value.littleEndian) { hasher.update(bufferPointer: $0) }
        }
        put("THAW-BATCH-ID-1", into: &id)
        put(batch.user.rawValue, into: &id)
        put(UInt64(batch.samples.count), into: &id)
        for sample in batch.samples {
            put(sample.sampleID, into: &id)
            put(UInt64(sample.label), into: &id)
        }
        let identity = Self.hex(id.finalize())
        var content = SHA256()
        put("THAW-BATCH-CONTENT-1", into: &content)
        put(identity, into: &content)
        put(batch.stamps.modelVersion.number, into: &content)
        put(UInt64(batch.stamps.freezePoint.index), into: &content)
        put(batch.stamps.hyperParameterHash, into: &content)
        for sample in batch.samples {
            put(UInt64(sample.activations.shape.count), into: &content)
            for dimension in sample.activations.shape { put(UInt64(dimension), into: &content) }
            sample.activations.scalars.withUnsafeBytes { content.update(bufferPointer: $0) }
        }
        self.init(identity: identity, content: Self.hex(content.finalize()))
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        let table = Array("0123456789abcdef".utf8)
        var digits: [UInt8] = []
        digits.reserveCapacity(64)
        for byte in digest {
            digits.append(table[Int(byte >> 4)])
            digits.append(table[Int(byte & 0x0F)])
        }
        return String(decoding: digits, as: UTF8.self)
    }
}
