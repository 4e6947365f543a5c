import Crypto

/// Appends little-endian integers, floats and length-prefixed strings to a byte array.
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    init(reservingCapacity capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// A UTF-8 string prefixed by its byte length as UInt16.
    mutating func appendString(_ string: String) {
        let utf8 = Array(string.utf8)
        precondition(utf8.count <= Int(UInt16.max), "string too long for the format")
        append(UInt16(utf8.count))
        append(utf8)
    }

    /// Float32 values, little-endian; with `canonicalZero`, −0 is written as +0 so that equal weights hash
    /// equally. Bulk copies (a head is millions of values): per-value appends cost more than the SHA-256.
    mutating func appendFloats(_ values: [Float], canonicalZero: Bool = false) {
        let start = bytes.count
        bytes.append(contentsOf: repeatElement(0, count: values.count * 4))
        bytes.withUnsafeMutableBytes { raw in
            let target = UnsafeMutableRawBufferPointer(rebasing: raw[start...])
            values.withUnsafeBufferPointer { source in
                Self.copyLittleEndian(source, into: target, canonicalZero: canonicalZero)
            }
        }
    }

    /// Writes `source` as little-endian Float32 bit patterns into `target` (4 bytes a value).
    static func copyLittleEndian(
        _ source: UnsafeBufferPointer<Float>, into target: UnsafeMutableRawBufferPointer, canonicalZero: Bool
    ) {
        let words = target.bindMemory(to: UInt32.self)
        for index in source.indices {
            let value = source[index]
            words[index] = (canonicalZero && value == 0 ? 0 : value.bitPattern).littleEndian
        }
    }
}

/// Feeds a SHA-256 with the same bytes a ``ByteWriter`` would hold, without holding them: the header
/// is small, the parameters are streamed through a fixed buffer.
struct HashingWriter {
    private var hasher = SHA256()
    private var header = ByteWriter()

    mutating func append<T: FixedWidthInteger>(_ value: T) { header.append(value) }
    mutating func append(_ raw: [UInt8]) { header.append(raw) }
    mutating func appendString(_ string: String) { header.appendString(string) }

    /// Hashes what was appended so far, then `values` as canonical little-endian Float32.
    mutating func appendFloats(_ values: [Float], canonicalZero: Bool) {
        flushHeader()
        let chunk = 16_384
        var buffer = [UInt8](repeating: 0, count: chunk * 4)
        values.withUnsafeBufferPointer { all in
            var start = 0
            while start < all.count {
                let end = min(start + chunk, all.count)
                buffer.withUnsafeMutableBytes { raw in
                    ByteWriter.copyLittleEndian(
                        UnsafeBufferPointer(rebasing: all[start..<end]), into: raw, canonicalZero: canonicalZero)
                    hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: raw[0..<(end - start) * 4]))
                }
                start = end
            }
        }
    }

    mutating func finalize() -> [UInt8] {
        flushHeader()
        return Array(hasher.finalize())
    }

    private mutating func flushHeader() {
        guard !header.bytes.isEmpty else { return }
        hasher.update(data: header.bytes)
        header = ByteWriter()
    }
}
