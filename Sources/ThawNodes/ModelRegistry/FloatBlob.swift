import Foundation

/// The on-disk encoding of float arrays and shapes: little-endian IEEE-754 float32, and shapes as
/// comma-separated decimal text (`"1,28,28"`, readable in the `sqlite3` shell).
///
/// Little-endian is fixed, not "host order", so a database file copied between machines still reads.
enum FloatBlob {
    static func encode(_ values: [Float]) -> Data {
        #if _endian(little)
        // The host order is the file order: one copy.
        return values.withUnsafeBytes { Data($0) }
        #else
        var data = Data(capacity: values.count * 4)
        for value in values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { data.append(contentsOf: $0) }
        }
        return data
        #endif
    }

    /// - Throws: ``RegistryError`` `.corruptRow` when the byte count is not a multiple of four.
    static func decode(_ data: Data, field: String) throws(RegistryError) -> [Float] {
        guard data.count % 4 == 0 else {
            throw RegistryError(.corruptRow, "\(field): blob of \(data.count) bytes is not float32")
        }
        let count = data.count / 4
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { raw in
                #if _endian(little)
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: raw)
                #else
                for index in 0..<count {
                    let bits = raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)
                    buffer[index] = Float(bitPattern: UInt32(littleEndian: bits))
                }
                #endif
            }
            initialized = count
        }
    }

    static func encodeShape(_ shape: [Int]) -> String {
        shape.map(String.init).joined(separator: ",")
    }

    /// - Throws: ``RegistryError`` `.corruptRow` when the text is not a list of positive integers.
    static func decodeShape(_ text: String, field: String) throws(RegistryError) -> [Int] {
        var shape: [Int] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let dimension = Int(part), dimension > 0 else {
                throw RegistryError(.corruptRow, "\(field): shape text '\(text)' is not a list of dimensions")
            }
            shape.append(dimension)
        }
        return shape
    }
}
