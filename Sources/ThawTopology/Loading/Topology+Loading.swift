import Foundation
import Yams

extension Topology {
    /// Reads, parses and validates a topology file.
    /// - Parameter path: the file; it is also the origin shown in diagnostics, exactly as given.
    /// - Throws: ``TopologyError`` with code `unreadableFile`, or any parse or validation error.
    public static func load(path: String) throws(TopologyError) -> Topology {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw TopologyError(.unreadableFile, origin: path, keyPath: "", reason: "cannot read file (\(error.localizedDescription))")
        }
        return try parse(yaml: text, origin: path)
    }

    /// Parses and validates topology text.
    /// - Parameters:
    ///   - yaml: the document.
    ///   - origin: the label diagnostics start with (a file name, `<embedded>`, `<test>`).
    /// - Throws: ``TopologyError`` locating the first problem by key path.
    public static func parse(yaml: String, origin: String) throws(TopologyError) -> Topology {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw TopologyError(.invalidYAML, origin: origin, keyPath: "", reason: "invalid YAML: \(error)")
        }
        guard let root else {
            throw TopologyError(.missingKey, origin: origin, keyPath: "", reason: "empty document (expected a mapping with 'nodes')")
        }
        return try decode(root, origin: origin).validated()
    }

    static let rootKeys = ["name", "seed", "data", "model", "goal", "security", "nodes"]

    static func decode(_ root: Node, origin: String) throws(TopologyError) -> Topology {
        let reader = try MappingReader(root, path: "", origin: origin, keys: rootKeys)
        guard let items = try reader.sequence("nodes") else { throw reader.error(.missingKey, nil, "missing required key 'nodes'") }
        guard !items.isEmpty else { throw reader.error(.outOfRange, "nodes", "a topology needs at least one node") }
        var nodes: [NodeSpec] = []
        for item in items {
            nodes.append(try NodeSpec.decode(item.node, path: item.path, origin: origin))
        }
        var topology = Topology(origin: origin, nodes: nodes)
        topology.name = try reader.string("name")
        if let seed = try reader.string("seed") {
            guard let value = UInt64(seed) else { throw reader.error(.invalidValue, "seed", "expected a non-negative integer, got '\(seed)'") }
            topology.seed = value
        }
        if let data = try reader.string("data") {
            topology.data = data == "default" ? .default : .directory(data)
        }
        if let model = try reader.mapping("model", keys: ["pretrain-epochs", "pretrain-share", "learning-rate", "batch-size", "cache"]) {
            topology.model.pretrainEpochs = try model.int("pretrain-epochs", in: 0...1000) ?? topology.model.pretrainEpochs
            topology.model.pretrainShare = try model.double("pretrain-share", in: 0.01...0.99) ?? topology.model.pretrainShare
            topology.model.learningRate = try model.double("learning-rate", in: 1e-6...10) ?? topology.model.learningRate
            topology.model.batchSize = try model.int("batch-size", in: 1...65536) ?? topology.model.batchSize
            topology.model.cache = try model.string("cache")
        }
        if let goal = try reader.mapping("goal", keys: ["heads-per-device", "duration"]) {
            topology.goal = Goal(headsPerDevice: try goal.int("heads-per-device", in: 1...1_000_000), duration: try goal.duration("duration"))
            guard topology.goal.headsPerDevice != nil || topology.goal.duration != nil else {
                throw reader.error(.missingKey, "goal", "set 'heads-per-device', 'duration' or both")
            }
        }
        if let security = try reader.mapping("security", keys: ["curve", "keys", "allowlist"]) {
            topology.security = try SecuritySettings.decode(security)
        }
        return topology
    }
}

extension SecuritySettings {
    static func decode(_ reader: MappingReader) throws(TopologyError) -> SecuritySettings {
        var settings = SecuritySettings()
        switch try reader.string("curve") {
        case nil, "on", "true", "yes": settings.curve = true
        case "off", "false", "no": settings.curve = false
        case let other?: throw reader.error(.invalidValue, "curve", "expected on or off, got '\(other)'")
        }
        settings.keys = try reader.string("keys")
        settings.allowlist = try reader.string("allowlist")
        return settings
    }
}
