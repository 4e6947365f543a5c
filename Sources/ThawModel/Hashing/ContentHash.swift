import Crypto
import ThawNN

/// A SHA-256 content address over a canonical byte order, shown as 64 lower-case hex digits.
///
/// Every hash starts with a domain tag (`THAW-MODEL-1`, `THAW-HEAD-1`, `THAW-HPARAM-1`) so that a model, a head
/// and a hyper-parameter set can never collide by construction. Parameters are hashed as little-endian Float32
/// with −0 written as +0: equal weights give equal hashes, any other change gives a different one.
public struct ContentHash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    init(digestOf bytes: [UInt8]) { self.bytes = Array(SHA256.hash(data: bytes)) }

    init(_ writer: HashingWriter) {
        var writer = writer
        self.bytes = writer.finalize()
    }

    /// Parses 64 hex digits (either case); nil for anything else.
    public init?(hex: String) {
        let digits = Array(hex.utf8)
        guard digits.count == 64 else { return nil }
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: 64, by: 2) {
            guard let high = Self.nibble(digits[i]), let low = Self.nibble(digits[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        self.bytes = bytes
    }

    /// 64 lower-case hex digits.
    public var hex: String {
        let table = Array("0123456789abcdef".utf8)
        var digits: [UInt8] = []
        digits.reserveCapacity(64)
        for byte in bytes {
            digits.append(table[Int(byte >> 4)])
            digits.append(table[Int(byte & 0x0F)])
        }
        return String(decoding: digits, as: UTF8.self)
    }

    public var description: String { hex }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension ContentHash {
    /// The hash of a whole model: tag, canonical architecture, value count, parameters.
    public static func model(architecture: ModelArchitecture, parameters: [Float]) -> ContentHash {
        precondition(parameters.count == architecture.parameterCount, "parameters do not match the architecture")
        var writer = HashingWriter()
        writer.appendString("THAW-MODEL-1")
        let encoded = ArchitectureEncoding.encode(architecture)
        writer.append(UInt32(encoded.count))
        writer.append(encoded)
        writer.append(UInt64(parameters.count))
        writer.appendFloats(parameters, canonicalZero: true)
        return ContentHash(writer)
    }

    /// The hash of `model`'s current parameters.
    public static func model(_ model: Model) -> ContentHash {
        self.model(architecture: model.architecture, parameters: model.parameters)
    }

    /// The hash of a trained head: tag, freeze point, canonical architecture of layers `[k, L)`, parameters.
    ///
    /// The head's architecture starts from the activation shape at k, so heads trained on different backbones
    /// with the same cut shape and the same weights hash equally; the freeze point keeps heads cut at
    /// different layers apart.
    public static func head(parameters: [Float], freezePoint: FreezePoint, architecture: ModelArchitecture)
        -> ContentHash
    {
        let head = architecture.slice(layers: freezePoint.index..<architecture.layerCount)
        precondition(
            parameters.count == head.parameterCount, "\(parameters.count) head parameters for \(head.parameterCount)")
        var writer = HashingWriter()
        writer.appendString("THAW-HEAD-1")
        writer.append(UInt32(freezePoint.index))
        let encoded = ArchitectureEncoding.encode(head)
        writer.append(UInt32(encoded.count))
        writer.append(encoded)
        writer.append(UInt64(parameters.count))
        writer.appendFloats(parameters, canonicalZero: true)
        return ContentHash(writer)
    }

    /// The hash of a training recipe: optimiser and its settings, the head's architecture and freeze point,
    /// the batch size, and any further `extra` settings (sorted by key, so order does not matter).
    public static func hyperParameters(
        _ optimizer: OptimizerConfig, headArchitecture: ModelArchitecture, freezePoint: FreezePoint, batchSize: Int,
        extra: [String: String] = [:]
    ) -> ContentHash {
        var writer = ByteWriter()
        writer.appendString("THAW-HPARAM-1")
        switch optimizer {
        case .sgd(let learningRate, let momentum, let weightDecay):
            writer.appendString("sgd")
            for value in [learningRate, momentum, weightDecay] { writer.append(value.bitPattern) }
        case .adam(let learningRate, let beta1, let beta2, let epsilon, let weightDecay):
            writer.appendString("adam")
            for value in [learningRate, beta1, beta2, epsilon, weightDecay] { writer.append(value.bitPattern) }
        }
        writer.append(UInt32(freezePoint.index))
        let encoded = ArchitectureEncoding.encode(headArchitecture)
        writer.append(UInt32(encoded.count))
        writer.append(encoded)
        writer.append(UInt64(batchSize))
        writer.append(UInt32(extra.count))
        for key in extra.keys.sorted() {
            writer.appendString(key)
            writer.appendString(extra[key]!)
        }
        return ContentHash(digestOf: writer.bytes)
    }
}
