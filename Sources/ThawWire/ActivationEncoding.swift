/// How the activations of a feature batch travel on the radio: the deployment chooses one.
///
/// The choice is part of the hyper-parameter stamp rather than a field of its own, because the encoding
/// changes what a head is trained on exactly as a learning rate does: activations uploaded as int8 must
/// never be mixed with float32 ones, and a phone must never upload in an encoding the worker does not
/// expect. Putting it in the stamp gives both for free: a phone stamps every cached activation with
/// the coordinator's hyper-parameter stamp (and keeps it across restarts), a worker rejects batches
/// whose stamp differs from its deployment, and the registry filters every query on it.
///
/// Stamp form: the hex hash alone means float32 (so every existing stamp and client is unchanged);
/// `<hex>+float16` and `<hex>+int8` name the other two; an optional `+noise:<clip>:<sigma>` may follow
/// (``UploadRule``, ``ActivationNoise``). docs/PROTOCOL.md, "Activation encodings", gives the byte layouts.
public enum ActivationEncoding: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// IEEE-754 binary32, 4 bytes per value (the default).
    case float32
    /// IEEE-754 binary16, 2 bytes per value, round to nearest even, saturating at ±65504.
    case float16
    /// Int8 in [-127, 127] with one float32 scale per row (maxAbs / 127): 1 byte per value + 4 per row.
    case int8

    /// The separator between the hash and the encoding's name in a stamp.
    public static let stampSeparator: Character = "+"

    /// The encoding a hyper-parameter stamp names; `nil` when the suffix names none this build knows
    /// (the full grammar, with the optional noise part, is ``UploadRule/init(stamp:)``).
    public init?(stamp: String) {
        guard let rule = UploadRule(stamp: stamp) else { return nil }
        self = rule.encoding
    }

    /// The stamp for `hash` (the recipe's hex hash) under this encoding.
    public func stamp(hash: String) -> String {
        self == .float32 ? hash : "\(hash)\(Self.stampSeparator)\(rawValue)"
    }

    /// Bytes of an encoded [rows, valuesPerRow] tensor.
    public func byteCount(rows: Int, valuesPerRow: Int) -> Int {
        switch self {
        case .float32: rows * valuesPerRow * 4
        case .float16: rows * valuesPerRow * 2
        case .int8: rows * 4 + rows * valuesPerRow
        }
    }

    public var description: String { rawValue }
}
