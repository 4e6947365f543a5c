import Crypto
import ThawNN

/// The versioned model file: architecture, model version, a named tensor table and the parameters, closed
/// by a SHA-256 of everything before it. The byte layout is specified in docs/MODEL-FORMAT.md.
///
/// Decoding trusts nothing: it checks the magic, the format version, every length against the bytes present,
/// the checksum, the architecture, the tensor table against the architecture, and that every value is
/// finite, and reports the first failure as a ``ModelFileError``.
public enum ModelCheckpoint {
    /// The first eight bytes of every model file.
    public static let magic: [UInt8] = Array("THAWMDL1".utf8)
    /// The format version this build writes and reads.
    public static let formatVersion: UInt32 = 1
    /// Size of the trailing SHA-256.
    static let checksumSize = 32

    /// What a model file holds.
    public struct Contents: Sendable, Equatable {
        public var architecture: ModelArchitecture
        public var version: ModelVersion
        public var parameters: [Float]

        public init(architecture: ModelArchitecture, version: ModelVersion, parameters: [Float]) {
            self.architecture = architecture
            self.version = version
            self.parameters = parameters
        }

        /// A model over these parameters.
        public func makeModel(seed: UInt64 = 0) -> Model {
            Model(architecture: architecture, parameters: parameters, seed: seed)
        }
    }

    /// The file bytes for `model` stamped with `version`.
    public static func encode(_ model: Model, version: ModelVersion) -> [UInt8] {
        encode(Contents(architecture: model.architecture, version: version, parameters: model.parameters))
    }

    /// The file bytes for `contents`.
    ///
    /// - Precondition: the architecture is valid and the parameter count matches it.
    public static func encode(_ contents: Contents) -> [UInt8] {
        let slices = contents.architecture.parameterSlices()
        precondition(
            contents.parameters.count == contents.architecture.parameterCount,
            "\(contents.parameters.count) parameters for an architecture of \(contents.architecture.parameterCount)")
        var writer = ByteWriter(reservingCapacity: 256 + contents.parameters.count * 4)
        writer.append(magic)
        writer.append(formatVersion)
        writer.append(contents.version.number)
        let architecture = ArchitectureEncoding.encode(contents.architecture)
        writer.append(UInt32(architecture.count))
        writer.append(architecture)
        writer.append(UInt32(slices.count))
        for slice in slices {
            writer.appendString(slice.name)
            writer.append(UInt8(slice.shape.count))
            for dimension in slice.shape { writer.append(UInt32(dimension)) }
        }
        writer.append(UInt64(contents.parameters.count))
        writer.appendFloats(contents.parameters)
        let digest = SHA256.hash(data: writer.bytes)
        writer.append(Array(digest))
        return writer.bytes
    }

    /// `bytes` with its last 32 bytes replaced by the SHA-256 of everything before them.
    ///
    /// For fuzzers and tests that corrupt a file on purpose and want the decoder to get past the checksum
    /// to the structure behind it (a hostile writer can always compute a valid checksum).
    public static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.count >= checksumSize else { return bytes }
        let payloadEnd = bytes.count - checksumSize
        return Array(bytes[0..<payloadEnd]) + Array(SHA256.hash(data: bytes[0..<payloadEnd]))
    }

    /// Parses and validates a model file.
    ///
    /// - Throws: ``ModelFileError`` with `.badMagic`, `.unsupportedFormatVersion`, `.truncated`,
    ///   `.trailingBytes`, `.checksumMismatch`, `.invalidArchitecture`, `.tensorMismatch` or `.nonFiniteValue`.
    public static func decode(_ bytes: [UInt8]) throws(ModelFileError) -> Contents {
        var reader = ByteReader(bytes)
        let foundMagic = try reader.readBytes(magic.count, "magic")
        guard Array(foundMagic) == magic else {
            throw ModelFileError(.badMagic, "file starts with \(Array(foundMagic)), expected \"THAWMDL1\"")
        }
        let format = try reader.read(UInt32.self, "format version")
        guard format == formatVersion else {
            throw ModelFileError(
                .unsupportedFormatVersion, "format version \(format), this build reads \(formatVersion)")
        }
        // Structure first: it fixes where the checksum must be, which tells truncation from corruption.
        let version = ModelVersion(try reader.read(UInt64.self, "model version"))
        let architectureLength = Int(try reader.read(UInt32.self, "architecture length"))
        let architectureBytes = try reader.readBytes(architectureLength, "architecture")
        let tensorCount = Int(try reader.read(UInt32.self, "tensor count"))
        var table: [(name: String, shape: [Int])] = []
        for index in 0..<tensorCount {
            let name = try reader.readString("tensor \(index) name")
            let rank = Int(try reader.read(UInt8.self, "tensor \(index) rank"))
            var shape: [Int] = []
            for _ in 0..<rank { shape.append(Int(try reader.read(UInt32.self, "tensor \(index) dimension"))) }
            table.append((name, shape))
        }
        let valueCount = try reader.read(UInt64.self, "value count")
        guard valueCount <= UInt64(reader.remaining / 4) else {
            throw ModelFileError(.truncated, "\(valueCount) values promised, \(reader.remaining) bytes left")
        }
        let parameters = try reader.readFloats(Int(valueCount), "parameters")
        let payloadEnd = reader.offset
        let storedDigest = try reader.readBytes(checksumSize, "checksum")
        guard reader.remaining == 0 else {
            throw ModelFileError(
                .trailingBytes, "\(reader.remaining) bytes after the checksum at offset \(reader.offset)")
        }
        let digest = Array(SHA256.hash(data: bytes[0..<payloadEnd]))
        guard digest == Array(storedDigest) else {
            throw ModelFileError(.checksumMismatch, "SHA-256 of bytes 0..<\(payloadEnd) does not match the stored one")
        }
        // Semantics: the checksum only proves the writer wrote these bytes, not that they make sense.
        let architecture = try ArchitectureEncoding.decode(architectureBytes)
        let expected = architecture.parameterSlices()
        guard expected.count == table.count else {
            throw ModelFileError(.tensorMismatch, "\(table.count) tensors, architecture has \(expected.count)")
        }
        for (slice, entry) in zip(expected, table) where slice.name != entry.name || slice.shape != entry.shape {
            throw ModelFileError(
                .tensorMismatch,
                "tensor \(entry.name) \(entry.shape), architecture expects \(slice.name) \(slice.shape)")
        }
        guard parameters.count == architecture.parameterCount else {
            throw ModelFileError(
                .tensorMismatch, "\(parameters.count) values, architecture has \(architecture.parameterCount)")
        }
        if let bad = parameters.firstIndex(where: { !$0.isFinite }) {
            let name = expected.first { $0.range.contains(bad) }?.name ?? "?"
            throw ModelFileError(.nonFiniteValue, "value \(parameters[bad]) at index \(bad) (\(name))")
        }
        return Contents(architecture: architecture, version: version, parameters: parameters)
    }
}
