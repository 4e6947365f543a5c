/// Clipping plus Gaussian noise that a phone adds to every activation row it uploads (issue #17).
///
/// The rule, applied by the phone to each uploaded row x (one sample's activation, m values) before the
/// activation encoding: `x ← x · min(1, clip / ‖x‖₂)`, then `x_i ← x_i + sigma·clip·z_i` with `z_i`
/// i.i.d. standard normal. Clipping bounds every row's norm, so `sigma` is the noise scale relative to
/// the largest row the cloud can receive: the same `sigma` means the same signal-to-noise bound at any
/// freeze point or model. docs/PROTOCOL.md, "Activation noise", is the reference an outside phone follows.
///
/// Like the encoding, the parameters change what a head is trained on, so they are part of the
/// hyper-parameter stamp (hashed into its hex and named in its suffix): a phone reads them from the
/// deployment's stamp, and a batch noised under one setting carries a stamp that a worker deployed with
/// another refuses. The worker cannot check that noise was added (a noised row looks like any other);
/// the stamp only makes phone and worker agree on what *should* have been done.
public struct ActivationNoise: Hashable, Sendable, CustomStringConvertible {
    /// The L2 bound of every uploaded row, in activation units.
    public let clip: Double
    /// The noise standard deviation per value, as a multiple of ``clip``.
    public let sigma: Double

    /// Accepted clip bounds: positive and small enough that `sigma · clip` stays a normal float.
    public static let clipRange: ClosedRange<Double> = 1e-6...1e6
    /// Accepted noise scales; 0 clips without noise.
    public static let sigmaRange: ClosedRange<Double> = 0...1000

    /// Validates both parameters; `invalidField` names the one out of range.
    public init(clip: Double, sigma: Double) throws(WireError) {
        guard clip.isFinite, Self.clipRange.contains(clip) else {
            throw WireError(.invalidField, "activation noise clip \(clip) is outside \(Self.clipRange)")
        }
        guard sigma.isFinite, Self.sigmaRange.contains(sigma) else {
            throw WireError(.invalidField, "activation noise sigma \(sigma) is outside \(Self.sigmaRange)")
        }
        self.clip = clip
        self.sigma = sigma
    }

    /// The standard deviation of the noise added to each value: `sigma · clip`.
    public var standardDeviation: Double { sigma * clip }

    /// The stamp suffix part: `noise:<clip>:<sigma>`, each number in Swift's shortest round-trip form
    /// (the same digits as Python's `repr`). Only the deployment writes it; clients parse it.
    public var stampPart: String { "\(Self.stampTag):\(clip):\(sigma)" }

    /// The tag that starts the noise part of a stamp suffix.
    public static let stampTag = "noise"

    /// Parses a `noise:<clip>:<sigma>` stamp part; `nil` when it is not one or its values are out of range.
    public init?(stampPart part: Substring) {
        let fields = part.split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 3, fields[0] == Self.stampTag, let clip = Double(String(fields[1])),
            let sigma = Double(String(fields[2])), let noise = try? ActivationNoise(clip: clip, sigma: sigma)
        else { return nil }
        self = noise
    }

    public var description: String { "clip \(clip), sigma \(sigma)" }
}

/// What a hyper-parameter stamp tells a phone about uploading: the encoding and the optional noise.
///
/// Stamp grammar: `<hex>` then, in this order, an optional `+float16` or `+int8` and an optional
/// `+noise:<clip>:<sigma>`. Absent parts mean float32 and no noise, so every stamp written before
/// noise existed parses as it did. Anything else after the hex (an unknown part, a repeated or
/// misplaced part, `+float32`) names nothing this build knows, and the stamp is refused.
public struct UploadRule: Hashable, Sendable, CustomStringConvertible {
    public var encoding: ActivationEncoding
    public var noise: ActivationNoise?

    public init(encoding: ActivationEncoding = .float32, noise: ActivationNoise? = nil) {
        self.encoding = encoding
        self.noise = noise
    }

    /// The rule a stamp names; `nil` when its suffix does not follow the grammar above.
    public init?(stamp: String) {
        var parts = stamp.split(separator: ActivationEncoding.stampSeparator, omittingEmptySubsequences: false)
            .dropFirst()[...]
        var rule = UploadRule()
        if let first = parts.first, let encoding = ActivationEncoding(rawValue: String(first)) {
            // float32 is never written as a suffix, so "+float32" is not a valid stamp either.
            guard encoding != .float32 else { return nil }
            rule.encoding = encoding
            parts = parts.dropFirst()
        }
        if let first = parts.first {
            guard let noise = ActivationNoise(stampPart: first) else { return nil }
            rule.noise = noise
            parts = parts.dropFirst()
        }
        guard parts.isEmpty else { return nil }
        self = rule
    }

    /// The stamp for `hash` (the recipe's hex hash) under this rule.
    public func stamp(hash: String) -> String {
        var stamp = encoding.stamp(hash: hash)
        if let noise { stamp += "\(ActivationEncoding.stampSeparator)\(noise.stampPart)" }
        return stamp
    }

    public var description: String {
        noise.map { "\(encoding), noise \($0)" } ?? "\(encoding)"
    }
}
