/// Little-endian appender for the small binary state formats (see ``DeviceCacheStore``).
struct ByteWriter {
    private(set) var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ value: Float) { append(value.bitPattern) }

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

/// CRC-32 (IEEE 802.3, the zlib polynomial).
///
/// Contiguous bytes are checksummed eight at a time ("slicing-by-8", same result as bytewise): a device
/// process checksums every phone snapshot it group-commits (a few hundred KB each), and the bytewise
/// loop was a tenth of a 10,000-phone process's CPU.
enum CRC32 {
    /// `tables[k][b]`: the CRC of byte `b` followed by `k` zero bytes; `tables[0]` is the bytewise table.
    private static let tables: [UInt32] = {
        var tables = [UInt32](repeating: 0, count: 8 * 256)
        for index in 0..<256 {
            var value = UInt32(index)
            for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
            tables[index] = value
        }
        for slice in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(slice - 1) * 256 + index]
                tables[slice * 256 + index] = (previous >> 8) ^ tables[Int(previous & 0xFF)]
            }
        }
        return tables
    }()

    static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        if let crc = bytes.withContiguousStorageIfAvailable({ checksum(contiguous: $0) }) { return crc }
        return tables.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            return crc ^ 0xFFFF_FFFF
        }
    }

    private static func checksum(contiguous bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        tables.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xFFFF_FFFF
            var offset = 0
            let count = bytes.count
            while count - offset >= 8 {
                let one = crc ^ (UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                    | UInt32(bytes[offset + 2]) << 16 | UInt32(bytes[offset + 3]) << 24)
                let two = UInt32(bytes[offset + 4]) | UInt32(bytes[offset + 5]) << 8
                    | UInt32(bytes[offset + 6]) << 16 | UInt32(bytes[offset + 7]) << 24
                crc = table[7 * 256 + Int(one & 0xFF)] ^ table[6 * 256 + Int((one >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((one >> 16) & 0xFF)] ^ table[4 * 256 + Int(one >> 24)]
                    ^ table[3 * 256 + Int(two & 0xFF)] ^ table[2 * 256 + Int((two >> 8) & 0xFF)]
                    ^ table[256 + Int((two >> 16) & 0xFF)] ^ table[Int(two >> 24)]
                offset += 8
            }
            while offset < count {
                crc = table[Int((crc ^ UInt32(bytes[offset])) & 0xFF)] ^ (crc >> 8)
                offset += 1
            }
            return crc ^ 0xFFFF_FFFF
        }
    }
}
