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
    /// equally.
    mutating func appendFloats(_ values: [Float], canonicalZero: Bool = false) {
        bytes.reserveCapacity(bytes.count + values.count * 4)
        for value in values {
            let bits = canonicalZero && value == 0 ? 0 : value.bitPattern
            append(bits)
        }
    }
}
