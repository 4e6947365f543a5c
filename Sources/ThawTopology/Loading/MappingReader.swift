import Yams

/// Reads one YAML mapping against a fixed key list, tracking the key path for diagnostics.
///
/// Unknown keys are rejected when the reader is created, before any value is read, so a typo such as
/// `rol: worker` is reported as the typo rather than as a missing `role`.
struct MappingReader {
    let origin: String
    /// The key path of this mapping (`nodes[2].options`); empty for the document root.
    let path: String
    let line: Int?
    private var entries: [String: Node] = [:]

    init(_ node: Node, path: String, origin: String, keys: [String]) throws(TopologyError) {
        self.origin = origin
        self.path = path
        self.line = node.mark.map { $0.line }
        guard case .mapping(let mapping) = node else {
            throw TopologyError(.invalidValue, origin: origin, keyPath: path, line: line, reason: "expected a mapping")
        }
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw TopologyError(.invalidValue, origin: origin, keyPath: path, line: keyNode.mark?.line, reason: "keys must be plain strings")
            }
            let key = scalar.string
            let keyPath = Self.join(path, key)
            guard keys.contains(key) else {
                throw TopologyError(
                    .unknownKey, origin: origin, keyPath: keyPath, line: keyNode.mark?.line,
                    reason: "unknown key '\(key)' (expected one of \(keys.joined(separator: ", ")))"
                )
            }
            guard entries[key] == nil else {
                throw TopologyError(.duplicateKey, origin: origin, keyPath: keyPath, line: keyNode.mark?.line, reason: "key '\(key)' appears twice")
            }
            entries[key] = value
        }
    }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func keyPath(_ key: String) -> String { Self.join(path, key) }

    func error(_ code: TopologyError.Code, _ key: String?, _ reason: String) -> TopologyError {
        let node = key.flatMap { entries[$0] }
        return TopologyError(code, origin: origin, keyPath: key.map(keyPath) ?? path, line: node?.mark?.line ?? line, reason: reason)
    }

    func has(_ key: String) -> Bool { entries[key] != nil }

    func node(_ key: String) -> Node? { entries[key] }

    func required(_ key: String) throws(TopologyError) -> Node {
        guard let node = entries[key] else { throw error(.missingKey, nil, "missing required key '\(key)'") }
        return node
    }

    func string(_ key: String) throws(TopologyError) -> String? {
        guard let node = entries[key] else { return nil }
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            throw error(.invalidValue, key, "expected a non-empty string")
        }
        return scalar.string
    }

    func requiredString(_ key: String) throws(TopologyError) -> String {
        _ = try required(key)
        return try string(key)!  // present: checked by required(_:)
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws(TopologyError) -> Int? {
        guard let text = try string(key) else { return nil }
        guard let value = Int(text.filter { $0 != "_" }) else {
            throw error(.invalidValue, key, "expected an integer, got '\(text)'")
        }
        guard range.contains(value) else {
            throw error(.outOfRange, key, "\(value) is out of range (\(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }

    func double(_ key: String, in range: ClosedRange<Double>) throws(TopologyError) -> Double? {
        guard let text = try string(key) else { return nil }
        guard let value = Double(text), value.isFinite else {
            throw error(.invalidValue, key, "expected a number, got '\(text)'")
        }
        guard range.contains(value) else {
            throw error(.outOfRange, key, "\(text) is out of range (\(range.lowerBound)...\(range.upperBound))")
        }
        return value
    }

    /// A duration written `250ms`, `2s`, `1.5m`, `1h`, or a bare number of seconds; must be positive.
    func duration(_ key: String) throws(TopologyError) -> Duration? {
        guard let text = try string(key) else { return nil }
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = text
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = String(text.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value > 0 else {
            throw error(.invalidValue, key, "expected a positive duration such as 500ms, 2s, 5m or 1h, got '\(text)'")
        }
        return .milliseconds(Int64((value * scale * 1000).rounded()))
    }

    func mapping(_ key: String, keys: [String]) throws(TopologyError) -> MappingReader? {
        guard let node = entries[key] else { return nil }
        return try MappingReader(node, path: keyPath(key), origin: origin, keys: keys)
    }

    /// The items of a sequence value with their key paths (`nodes[0]`, `nodes[1]`, …).
    func sequence(_ key: String) throws(TopologyError) -> [(node: Node, path: String)]? {
        guard let node = entries[key] else { return nil }
        guard case .sequence(let items) = node else { throw error(.invalidValue, key, "expected a list") }
        return items.enumerated().map { (node: $0.element, path: "\(keyPath(key))[\($0.offset)]") }
    }

    /// A list of non-empty strings.
    func strings(_ key: String) throws(TopologyError) -> [String]? {
        guard let items = try sequence(key) else { return nil }
        var result: [String] = []
        for item in items {
            guard case .scalar(let scalar) = item.node, !scalar.string.isEmpty else {
                throw TopologyError(.invalidValue, origin: origin, keyPath: item.path, line: item.node.mark?.line, reason: "expected a non-empty string")
            }
            result.append(scalar.string)
        }
        return result
    }
}
