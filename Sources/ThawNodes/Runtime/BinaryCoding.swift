import CZlib
/// Little-endian appender for the small binary state formats (see ``DeviceCacheStore``).
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: Float) { append(value.bitPattern) }

    /// Every value's bit pattern, little-endian, in order: the same bytes as appending them one by one,
    /// copied at once on a little-endian host (a device snapshot holds tens of thousands of them).
    mutating func append(floats values: [Float]) {
        #if _endian(little)
        values.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for value in values { append(value) }
        #endif
    }

    mutating func reserveCapacity(_ count: Int) { bytes.reserveCapacity(count) }

    /// Overwrites four bytes at `offset` with `value` (for a length known only at the end).
    mutating func patch(_ value: UInt32, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(offset..<offset + 4, with: $0) }
    }

    mutating func append(raw: [UInt8]) { bytes.append(contentsOf: raw) }

    /// A UTF-8 string prefixed by its byte length as a `UInt16`.
    mutating func append(string: String) {
        let utf8 = Array(string.utf8)
        precondition(utf8.count <= Int(UInt16.max), "string too long for the state format")
        append(UInt16(utf8.count))
        append(raw: utf8)
    }
}

/// Bounds-checked little-endian reader; every read that would run past the end throws `.truncated`.
struct ByteReader {
    private let bytes: [UInt8]
    private let path: String
    private(set) var offset = 0

    init(_ bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        try require(size)
        var value: T = 0
        for index in 0..<size { value |= T(bytes[offset + index]) << (8 * index) }
        offset += size
        return value
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }

    mutating func readRaw(count: Int) throws -> [UInt8] {
        try require(count)
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func readString() throws -> String {
        let length = Int(try read(UInt16.self))
        let raw = try readRaw(count: length)
        guard let string = String(validating: raw, as: UTF8.self) else {
            throw StateFileError(code: .invalidContent, path: path, detail: "string at byte \(offset) is not UTF-8")
        }
        return string
    }

    private func require(_ count: Int) throws {
        guard count >= 0, remaining >= count else {
            throw StateFileError(
                code: .truncated, path: path, detail: "need \(count) bytes at offset \(offset), have \(remaining)")
        }
    }
}

/// CRC-32 (IEEE 802.3, the zlib polynomial), computed bytewise; state files are small.
enum CRC32 {
    /// zlib's CRC-32 (the same polynomial, initial value and final xor as the byte-wise table this
    /// replaced, so stored files keep their checksums): a fleet commit checksums every changed phone's
    /// snapshot, hundreds of kilobytes each, and a generic per-byte loop made that the slowest part of a
    /// commit (seconds in a debug build, where the generic iteration is not specialised).
    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        if let crc = bytes.withContiguousStorageIfAvailable({ Self.checksum(UnsafeRawBufferPointer($0)) }) {
            return crc
        }
        return Array(bytes).withUnsafeBytes { Self.checksum($0) }
    }

    static func checksum(_ buffer: UnsafeRawBufferPointer) -> UInt32 {
        guard let base = buffer.baseAddress, !buffer.isEmpty else { return 0 }
        var crc: uLong = 0
        var offset = 0
        while offset < buffer.count {
            let length = min(buffer.count - offset, Int(UInt32.max))
            crc = CZlib.crc32(crc, base.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(length))
            offset += length
        }
        return UInt32(truncatingIfNeeded: crc)
    }
}
