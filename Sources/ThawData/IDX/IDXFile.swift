import Foundation

/// One IDX file (the MNIST container): a 4-byte magic `00 00 <type> <rank>`, `rank` big-endian
/// uint32 dimensions, then the values in row-major order.
///
/// Only the two element types the handwriting data uses are supported: 0x08 (unsigned byte) for
/// images and labels, and 0x0B (16-bit big-endian "short") for writer ids.
public struct IDXFile: Sendable, Equatable {
    /// The element types this reader understands.
    public enum ElementType: UInt8, Sendable {
        case unsignedByte = 0x08
        case short = 0x0B

        var byteWidth: Int { self == .unsignedByte ? 1 : 2 }
    }

    public let elementType: ElementType
    public let dimensions: [Int]
    /// The raw, still big-endian payload: exactly `dimensions.product * byteWidth` bytes.
    public let payload: [UInt8]

    /// Number of elements (product of the dimensions).
    public var elementCount: Int { dimensions.reduce(1, *) }

    /// Parses IDX bytes, gunzipping them first when they start with 1f 8b.
    /// - Parameter path: used only in error messages.
    public init(bytes input: [UInt8], path: String = "<memory>") throws(DataError) {
        let bytes = Gzip.isCompressed(input) ? try Gzip.inflate(input, path: path) : input
        guard bytes.count >= 4 else {
            throw DataError(.truncated, path: path, reason: "\(bytes.count) bytes, shorter than the 4-byte magic")
        }
        guard bytes[0] == 0, bytes[1] == 0, bytes[3] > 0 else {
            let magic = bytes[0..<4].map { String($0, radix: 16) }.joined(separator: " ")
            throw DataError(.wrongMagic, path: path, reason: "magic \(magic) is not 00 00 <type> <rank>")
        }
        guard let type = ElementType(rawValue: bytes[2]) else {
            throw DataError(.wrongType, path: path, reason: "unsupported IDX type code 0x\(String(bytes[2], radix: 16))")
        }
        let rank = Int(bytes[3])
        let headerSize = 4 + 4 * rank
        guard bytes.count >= headerSize else {
            throw DataError(.truncated, path: path, reason: "header needs \(headerSize) bytes, file has \(bytes.count)")
        }
        var dims: [Int] = []
        var count = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let value = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dims.append(value)
            let (product, overflow) = count.multipliedReportingOverflow(by: value)
            guard !overflow, product <= Int(Int32.max) else {
                throw DataError(.dimensionMismatch, path: path, reason: "dimensions \(dims) are too large")
            }
            count = product
        }
        let expected = count * type.byteWidth
        let actual = bytes.count - headerSize
        guard actual >= expected else {
            throw DataError(.truncated, path: path, reason: "dimensions \(dims) need \(expected) data bytes, file has \(actual)")
        }
        guard actual == expected else {
            throw DataError(.dimensionMismatch, path: path, reason: "dimensions \(dims) need \(expected) data bytes, file has \(actual)")
        }
        self.elementType = type
        self.dimensions = dims
        self.payload = Array(bytes[headerSize...])
    }

    /// Reads and parses the file at `url`.
    public init(contentsOf url: URL) throws(DataError) {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw DataError(.fileUnreadable, path: url.path, reason: "\(error)")
        }
        try self.init(bytes: [UInt8](data), path: url.path)
    }

    /// Serialises back to (uncompressed) IDX bytes; used to write fixtures and subsets.
    public var bytes: [UInt8] {
        var out: [UInt8] = [0, 0, elementType.rawValue, UInt8(dimensions.count)]
        for d in dimensions {
            out += [UInt8(truncatingIfNeeded: d >> 24), UInt8(truncatingIfNeeded: d >> 16),
                    UInt8(truncatingIfNeeded: d >> 8), UInt8(truncatingIfNeeded: d)]
        }
        return out + payload
    }

    /// Builds a file from values; the caller guarantees `payload` matches the dimensions.
    public init(elementType: ElementType, dimensions: [Int], payload: [UInt8]) {
        precondition(dimensions.reduce(1, *) * elementType.byteWidth == payload.count, "IDX payload does not match dimensions")
        self.elementType = elementType
        self.dimensions = dimensions
        self.payload = payload
    }

    /// The elements as unsigned bytes; the caller has checked `elementType == .unsignedByte`.
    var unsignedBytes: [UInt8] { payload }

    /// The elements as 16-bit values, decoded from big-endian.
    var shorts: [UInt16] {
        var out = [UInt16](repeating: 0, count: payload.count / 2)
        for i in out.indices {
            out[i] = UInt16(payload[2 &* i]) << 8 | UInt16(payload[2 &* i &+ 1])
        }
        return out
    }
}
