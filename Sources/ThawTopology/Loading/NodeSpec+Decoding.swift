import Yams

extension NodeSpec {
    static let keys = ["name", "role", "host", "count", "endpoints", "peers", "options"]

    static func decode(_ node: Node, path: String, origin: String) throws(TopologyError) -> NodeSpec {
        let reader = try MappingReader(node, path: path, origin: origin, keys: keys)
        let name = try reader.requiredString("name")
        guard isKebabCase(name) else {
            throw reader.error(.invalidValue, "name", "node name '\(name)' is not kebab-case (lower-case letters, digits and single dashes)")
        }
        let roleText = try reader.requiredString("role")
        guard let role = Role(rawValue: roleText) else {
            let expected = Role.allCases.map(\.rawValue).joined(separator: ", ")
            throw reader.error(.unknownRole, "role", "unknown role '\(roleText)' (expected one of \(expected))")
        }
        var spec = NodeSpec(name: name, role: role)
        spec.host = try reader.string("host")
        // The range is checked by validation, which also runs after `--workers N`; here only the type.
        spec.count = try reader.int("count", in: Int.min...Int.max) ?? 1
        if let endpoints = try reader.mapping("endpoints", keys: role.requiredEndpoints + role.optionalEndpoints) {
            for key in role.requiredEndpoints + role.optionalEndpoints {
                guard let text = try endpoints.string(key) else { continue }
                do {
                    spec.endpoints[key] = try EndpointAddress(parsing: text)
                } catch {
                    throw endpoints.error(.invalidEndpoint, key, error.reason)
                }
            }
        } else if !role.requiredEndpoints.isEmpty {
            throw reader.error(.missingKey, nil, "missing required key 'endpoints' (a \(role) binds \(role.requiredEndpoints.joined(separator: ", ")))")
        }
        spec.peers = try reader.strings("peers") ?? []
        let countWasWritten = reader.has("count")
        spec.options = try RoleOptions.decode(reader, role: role)
        if case .device(let device) = spec.options, case .ids(let ids) = device.users, !countWasWritten {
            spec.count = ids.count
        }
        return spec
    }

    static func isKebabCase(_ name: String) -> Bool {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard let first = name.first, first.isLetter, first.isLowercase else { return false }
        return parts.allSatisfy { part in
            !part.isEmpty && part.allSatisfy { ($0.isLetter && $0.isLowercase && $0.isASCII) || ($0.isNumber && $0.isASCII) }
        }
    }
}
