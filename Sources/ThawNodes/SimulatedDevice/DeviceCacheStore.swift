import ThawNN

/// Reads and writes a ``DeviceSnapshot`` as one small binary file, atomically and with strict checks.
///
/// Format version 2, all integers little-endian (version 1 files still load; they differ only in the
/// upload field, see below):
/// ```
/// "THAWDEV1"  magic (8 bytes)
/// u16 format version (1)
/// u32 total file length in bytes (tells truncation apart from corruption)
/// u64 next sequence
/// u8  has deployment; if 1: u64 model version, str model hash, u32 freeze point, str hyper hash, u64 epoch
/// u32 label count, then per label: u64 sample id, i64 label
/// u32 entry count, then per entry:
///     u64 sample id, i64 label, u64 model version, u32 freeze point, str hyper hash,
///     u64 created-at ms, u8 upload (0 pending, 1 in flight, 2 durable), u64 batch seq (0 when pending),
///     activation,
///     u16 checkpoint count, then per checkpoint: u32 layer, activation
/// u32 CRC-32 of every byte before it
/// Version 1 had only `u64 durable seq (0 = not durable)` in place of the upload pair: it did not keep
/// the outbox, so an in-flight batch came back pending and was re-sent under a new sequence number.
/// activation = u8 rank, rank × u32 dims, u32 scalar count, count × f32
/// str = u16 byte length, UTF-8 bytes
/// ```
/// Loading checks the magic, version, checksum, every length, shape products, duplicate ids and trailing
/// bytes; any failure throws ``StateFileError``, never traps and never returns partial content.
public struct DeviceCacheStore: Sendable {
    public let path: String

    static let magic = Array("THAWDEV1".utf8)
    static let formatVersion: UInt16 = 2
    /// Versions ``decode(_:path:)`` reads.
    static let readableVersions: ClosedRange<UInt16> = 1...2

    public init(path: String) { self.path = path }

    /// Replaces the file with `snapshot` (write to a temporary file, fsync, rename).
    public func save(_ snapshot: DeviceSnapshot) throws {
        try AtomicFile.write(Self.encode(snapshot), to: path)
    }

    /// The stored snapshot, or `nil` when no file exists yet (a first start).
    /// - Throws: ``StateFileError`` when the file exists but is unreadable or fails validation.
    public func load() throws -> DeviceSnapshot? {
        guard let bytes = try AtomicFile.read(path) else { return nil }
        return try Self.decode(bytes, path: path)
    }

    /// Renames a file that failed to load to `<path>.corrupt[-n]` and returns the new path, so a fresh
    /// start keeps the evidence instead of overwriting it.
    public func quarantine() throws -> String { try AtomicFile.quarantine(path) }

    // MARK: - Encoding

    package static func encode(_ snapshot: DeviceSnapshot) -> [UInt8] {
        var writer = ByteWriter()
        // Room for every activation's scalars and a little more, so the buffer is not regrown as it fills.
        writer.reserveCapacity(
            256 + snapshot.annotatedLabels.count * 16
                + snapshot.entries.reduce(0) { $0 + 128 + $1.byteCount + 64 * $1.checkpoints.count })
        writer.append(raw: magic)
        writer.append(formatVersion)
        let lengthOffset = writer.bytes.count
        writer.append(UInt32(0))
        writer.append(snapshot.nextSequence)
        if let state = snapshot.deployment {
            writer.append(UInt8(1))
            writer.append(state.modelVersion.number)
            writer.append(string: state.modelHash)
            writer.append(UInt32(state.freezePoint.index))
            writer.append(string: state.hyperParameterHash)
            writer.append(state.epoch)
        } else {
            writer.append(UInt8(0))
        }
        writer.append(UInt32(snapshot.annotatedLabels.count))
        for (id, label) in snapshot.annotatedLabels.sorted(by: { $0.key < $1.key }) {
            writer.append(id)
            writer.append(Int64(label))
        }
        writer.append(UInt32(snapshot.entries.count))
        for entry in snapshot.entries {
            writer.append(entry.sampleId)
            writer.append(Int64(entry.label))
            writer.append(entry.stamp.modelVersion.number)
            writer.append(UInt32(entry.stamp.freezePoint.index))
            writer.append(string: entry.stamp.hyperParameterHash)
            writer.append(entry.createdAt.milliseconds)
            switch entry.upload {
            case .pending:
                writer.append(UInt8(0))
                writer.append(UInt64(0))
            case .inFlight(let seq):
                writer.append(UInt8(1))
                writer.append(seq)
            case .durable(let seq):
                writer.append(UInt8(2))
                writer.append(seq)
            }
            append(entry.activation, to: &writer)
            writer.append(UInt16(entry.checkpoints.count))
            for (layer, activation) in entry.checkpoints.sorted(by: { $0.key < $1.key }) {
                writer.append(UInt32(layer))
                append(activation, to: &writer)
            }
        }
        writer.patch(UInt32(writer.bytes.count + 4), at: lengthOffset)
        writer.append(CRC32.checksum(writer.bytes))
        return writer.bytes
    }

    private static func append(_ activation: Activation, to writer: inout ByteWriter) {
        writer.append(UInt8(activation.shape.count))
        for dimension in activation.shape { writer.append(UInt32(dimension)) }
        writer.append(UInt32(activation.count))
        writer.append(floats: activation.scalars)
    }

    /// `bytes` with the length field and the CRC-32 trailer recomputed, for fuzzers and tests that corrupt
    /// a file on purpose and want the decoder to reach the content behind the checksum.
    package static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        let lengthOffset = magic.count + 2
        guard bytes.count >= lengthOffset + 4 + 4 else { return bytes }
        var data = bytes
        let length = UInt32(truncatingIfNeeded: data.count)
        for index in 0..<4 { data[lengthOffset + index] = UInt8(truncatingIfNeeded: length >> (8 * UInt32(index))) }
        let crc = CRC32.checksum(data.dropLast(4))
        for index in 0..<4 { data[data.count - 4 + index] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(index))) }
        return data
    }

    // MARK: - Decoding

    package static func decode(_ bytes: [UInt8], path: String) throws -> DeviceSnapshot {
        func invalid(_ detail: String) -> StateFileError {
            StateFileError(code: .invalidContent, path: path, detail: detail)
        }
        guard bytes.count >= magic.count + 2 + 4 + 4 else {
            throw StateFileError(code: .truncated, path: path, detail: "only \(bytes.count) bytes")
        }
        guard Array(bytes.prefix(magic.count)) == magic else {
            throw StateFileError(code: .badMagic, path: path, detail: "not a Thaw device cache file")
        }
        var reader = ByteReader(Array(bytes.dropLast(4)), path: path)
        _ = try reader.readRaw(count: magic.count)
        let version = try reader.read(UInt16.self)
        guard readableVersions.contains(version) else {
            throw StateFileError(
                code: .unsupportedVersion, path: path,
                detail: "format \(version), expected \(readableVersions.lowerBound)...\(readableVersions.upperBound)")
        }
        let declaredLength = try reader.read(UInt32.self)
        guard declaredLength == bytes.count else {
            throw StateFileError(
                code: .truncated, path: path, detail: "file has \(bytes.count) bytes, header says \(declaredLength)")
        }
        var trailer = ByteReader(Array(bytes.suffix(4)), path: path)
        guard try trailer.read(UInt32.self) == CRC32.checksum(bytes.dropLast(4)) else {
            throw StateFileError(code: .checksumMismatch, path: path, detail: "CRC-32 does not match content")
        }

        let nextSequence = try reader.read(UInt64.self)
        guard nextSequence >= 1 else { throw invalid("next sequence is 0") }
        var deployment: DeploymentState?
        switch try reader.read(UInt8.self) {
        case 0: deployment = nil
        case 1:
            deployment = DeploymentState(
                modelVersion: ModelVersion(try reader.read(UInt64.self)), modelHash: try reader.readString(),
                freezePoint: FreezePoint(Int(try reader.read(UInt32.self))),
                hyperParameterHash: try reader.readString(), epoch: try reader.read(UInt64.self))
        case let flag: throw invalid("deployment flag \(flag)")
        }
        var labels: [UInt64: Int] = [:]
        for _ in 0..<(try reader.read(UInt32.self)) {
            let id = try reader.read(UInt64.self)
            let label = try reader.read(Int64.self)
            // Labels travel as UInt32 on the wire; anything else cannot be a class index.
            guard (0...Int64(UInt32.max)).contains(label) else { throw invalid("label \(label) of sample \(id)") }
            guard labels.updateValue(Int(label), forKey: id) == nil else {
                throw invalid("duplicate label for sample \(id)")
            }
        }
        var entries: [CachedActivation] = []
        var seen: Set<UInt64> = []
        for _ in 0..<(try reader.read(UInt32.self)) {
            let id = try reader.read(UInt64.self)
            guard seen.insert(id).inserted else { throw invalid("duplicate entry for sample \(id)") }
            let label = Int(try reader.read(Int64.self))
            let stamp = ActivationStamp(
                modelVersion: ModelVersion(try reader.read(UInt64.self)),
                freezePoint: FreezePoint(Int(try reader.read(UInt32.self))),
                hyperParameterHash: try reader.readString())
            let createdAt = Timestamp(milliseconds: try reader.read(UInt64.self))
            let upload: UploadState
            if version == 1 {
                let durableSeq = try reader.read(UInt64.self)
                upload = durableSeq == 0 ? .pending : .durable(seq: durableSeq)
            } else {
                let kind = try reader.read(UInt8.self)
                let seq = try reader.read(UInt64.self)
                switch (kind, seq) {
                case (0, 0): upload = .pending
                case (1, 1...) where seq < nextSequence: upload = .inFlight(seq: seq)
                case (2, 1...): upload = .durable(seq: seq)
                default: throw invalid("upload state \(kind) with batch \(seq) for sample \(id)")
                }
            }
            let activation = try readActivation(&reader, path: path)
            var checkpoints: [Int: Activation] = [:]
            for _ in 0..<(try reader.read(UInt16.self)) {
                let layer = Int(try reader.read(UInt32.self))
                guard checkpoints.updateValue(try readActivation(&reader, path: path), forKey: layer) == nil else {
                    throw invalid("duplicate checkpoint \(layer) for sample \(id)")
                }
            }
            guard labels[id] == label else { throw invalid("entry \(id) has no matching annotated label") }
            entries.append(
                CachedActivation(
                    sampleId: id, label: label, annotated: true, activation: activation, stamp: stamp,
                    createdAt: createdAt, checkpoints: checkpoints,
                    upload: upload))
        }
        guard reader.remaining == 0 else {
            throw StateFileError(code: .truncated, path: path, detail: "\(reader.remaining) unexpected trailing bytes")
        }
        return DeviceSnapshot(
            nextSequence: nextSequence, deployment: deployment, annotatedLabels: labels, entries: entries)
    }

    private static func readActivation(_ reader: inout ByteReader, path: String) throws -> Activation {
        let rank = Int(try reader.read(UInt8.self))
        var shape: [Int] = []
        for _ in 0..<rank { shape.append(Int(try reader.read(UInt32.self))) }
        let count = Int(try reader.read(UInt32.self))
        // Check the product before allocating, so a corrupt count cannot request a huge buffer.
        // An overflowing product is refused, not wrapped: a wrapped product could match a small count.
        var product: Int? = 1
        for dimension in shape {
            guard let total = product else { break }
            let (next, overflow) = total.multipliedReportingOverflow(by: dimension)
            product = overflow ? nil : next
        }
        guard let product, product == count, count * 4 <= reader.remaining else {
            throw StateFileError(
                code: .invalidContent, path: path, detail: "activation shape \(shape) vs \(count) scalars")
        }
        var scalars: [Float] = []
        scalars.reserveCapacity(count)
        for _ in 0..<count {
            let value = try reader.readFloat()
            // A NaN cached here would be uploaded later, and the wire refuses non-finite tensors.
            guard value.isFinite else {
                throw StateFileError(
                    code: .invalidContent, path: path,
                    detail: "activation \(shape) holds the non-finite value \(value)")
            }
            scalars.append(value)
        }
        return Activation(shape: shape, scalars: scalars)
    }
}
