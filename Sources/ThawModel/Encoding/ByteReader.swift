/// Reads little-endian fields from untrusted bytes; every read is bounds-checked and throws `.truncated`.
struct ByteReader {
    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func read<T: FixedWidthInteger>(_: T.Type, _ field: String) throws(ModelFileError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else {
            throw ModelFileError(.truncated, "\(field): need \(size) bytes at offset \(offset), \(remaining) left")
        }
        var value: T = 0
        for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
        offset += size
        return value
    }

    mutating func readBytes(_ count: Int, _ field: String) throws(ModelFileError) -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else {
            throw ModelFileError(.truncated, "\(field): need \(count) bytes at offset \(offset), \(remaining) left")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    mutating func readString(_ field: String) throws(ModelFileError) -> String {
        let length = Int(try read(UInt16.self, "\(field) length"))
        let raw = try readBytes(length, field)
        guard let string = String(validating: raw, as: UTF8.self) else {
            throw ModelFileError(.tensorMismatch, "\(field) is not valid UTF-8")
        }
        return string
    }

    /// `count` little-endian Float32 values.
    mutating func readFloats(_ count: Int, _ field: String) throws(ModelFileError) -> [Float] {
        let raw = try readBytes(count * 4, field)
        var values = [Float](repeating: 0, count: count)
        raw.withUnsafeBytes { source in
            for i in 0..<count {
                values[i] = Float(
                    bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self)))
            }
        }
        return values
    }
}
