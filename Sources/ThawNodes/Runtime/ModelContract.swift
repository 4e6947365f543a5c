import ThawModel
import ThawNN

/// What a model lets a peer send about it: the valid freeze points, the activation shape at each, the
/// number of classes, and the head size. Every role checks tensors from the wire against it before they
/// reach ThawNN, whose shape checks are preconditions (a bug there traps; a peer's lie must not).
struct ModelContract: Sendable, Equatable {
    let architecture: ModelArchitecture
    /// The per-sample activation shapes, index 0 (input) … L (logits); the architecture is valid.
    private let shapes: [[Int]]
    let classCount: Int

    init(_ architecture: ModelArchitecture) {
        self.architecture = architecture
        self.shapes = architecture.activationShapes()
        self.classCount = architecture.outputCount
    }

    var layerCount: Int { architecture.layerCount }

    /// The freeze point `raw` as a value, when it splits this model (`1..<L`, as the coordinator allows).
    /// - Throws: ``InputViolation`` `.freezePointOutOfRange`.
    func freezePoint(_ raw: UInt32) throws -> FreezePoint {
        guard raw >= 1, Int(raw) < layerCount else {
            throw InputViolation(.freezePointOutOfRange, "freeze point \(raw) is outside 1..<\(layerCount)")
        }
        return FreezePoint(Int(raw))
    }

    /// Checks a batch of activations `[n, …]` with `labels.count == n` taken at freeze point `raw`.
    /// - Throws: ``InputViolation`` `.freezePointOutOfRange`, `.wrongShape` or `.labelOutOfRange`.
    func checkBatch(shape: [Int], labels: [UInt32], freezePoint raw: UInt32, what: String) throws {
        let k = try freezePoint(raw)
        let expected = shapes[k.index]
        guard shape.count == expected.count + 1, Array(shape.dropFirst()) == expected, shape[0] == labels.count else {
            throw InputViolation(
                .wrongShape,
                "\(what): activations \(shape) with \(labels.count) labels; "
                    + "the model needs [n] + \(expected) at k=\(raw)"
            )
        }
        if let bad = labels.first(where: { Int($0) >= classCount }) {
            throw InputViolation(.labelOutOfRange, "\(what): label \(bad) but the model has \(classCount) classes")
        }
    }

    /// The number of head parameters at freeze point `k`.
    func headParameterCount(_ k: FreezePoint) -> Int { architecture.parameterCount(layers: k.index..<layerCount) }

    /// Checks that `count` head parameters fit this model split at `raw`.
    /// - Throws: ``InputViolation`` `.freezePointOutOfRange` or `.wrongShape`.
    func checkHead(count: Int, freezePoint raw: UInt32, what: String) throws {
        let k = try freezePoint(raw)
        let expected = headParameterCount(k)
        guard count == expected else {
            throw InputViolation(
                .wrongShape, "\(what): \(count) head parameters, the model has \(expected) at k=\(raw)")
        }
    }

    /// Checks that `parameters` fit this model split at `raw` and that their SHA-256 content hash
    /// (`ContentHash.head`) is `claimedHash`: a head is swapped in by its hash, so a hash that does not
    /// belong to the parameters must never be stored or used.
    /// - Throws: ``InputViolation`` `.freezePointOutOfRange`, `.wrongShape` or `.hashMismatch`.
    func checkHead(parameters: [Float], claimedHash: String, freezePoint raw: UInt32, what: String) throws {
        try checkHead(count: parameters.count, freezePoint: raw, what: what)
        let actual = ContentHash.head(parameters: parameters, freezePoint: FreezePoint(Int(raw)), architecture: architecture)
        guard actual.hex == claimedHash.lowercased() else {
            throw InputViolation(
                .hashMismatch, "\(what): claims hash \(claimedHash.prefix(16)), its parameters hash to \(actual.hex.prefix(16))")
        }
    }
}
