extension Topology {
    /// Checks the rules that span fields or nodes, and returns the topology unchanged if they hold.
    ///
    /// Per-field types and ranges are checked while decoding; this pass covers what overrides can
    /// break too: counts, names (after worker expansion), required endpoints, endpoint collisions,
    /// node hosts against endpoint hosts, and peer references.
    /// - Throws: the first ``TopologyError`` found, in file order.
    public func validated() throws(TopologyError) -> Topology {
        try validateNodes()
        try validateRoleCardinality()
        try validateNames()
        try validateEndpointCollisions()
        try validatePeers()
        return self
    }

    func fail(_ code: TopologyError.Code, _ keyPath: String, _ reason: String) -> TopologyError {
        TopologyError(code, origin: origin, keyPath: keyPath, reason: reason)
    }

    private func validateNodes() throws(TopologyError) {
        for (index, node) in nodes.enumerated() {
            let path = "nodes[\(index)]"
            let range = node.role.countRange
            guard range.contains(node.count) else {
                let allowed = range.count == 1 ? "a \(node.role) runs exactly once" : "a \(node.role) allows \(range.lowerBound)...\(range.upperBound)"
                throw fail(.outOfRange, "\(path).count", "count \(node.count) is out of range (\(allowed))")
            }
            for required in node.role.requiredEndpoints where node.endpoints[required] == nil {
                throw fail(.missingKey, "\(path).endpoints", "missing required endpoint '\(required)' (a \(node.role) binds \(node.role.requiredEndpoints.joined(separator: ", ")))")
            }
            let allowed = node.role.requiredEndpoints + node.role.optionalEndpoints
            for key in node.endpoints.keys.sorted() where !allowed.contains(key) {
                throw fail(.unknownKey, "\(path).endpoints.\(key)", "unknown endpoint '\(key)' for a \(node.role)")
            }
            for (key, endpoint) in node.endpoints.sorted(by: { $0.key < $1.key }) {
                if let host = node.host, endpoint.transport == .tcp, !endpoint.isNumericHost, endpoint.host != "localhost", endpoint.host != host {
                    throw fail(.invalidEndpoint, "\(path).endpoints.\(key)", "endpoint host '\(endpoint.host ?? "")' is not the node's host '\(host)'")
                }
                if node.host != nil, endpoint.transport == .inproc {
                    throw fail(.invalidEndpoint, "\(path).endpoints.\(key)", "inproc endpoints only reach the same process; a node with a host needs tcp")
                }
            }
            if case .device(let device) = node.options, case .ids(let ids) = device.users, ids.count != node.count {
                throw fail(.outOfRange, "\(path).options.users", "\(ids.count) user ids listed but count is \(node.count)")
            }
        }
    }

    private func validateRoleCardinality() throws(TopologyError) {
        for role in [Role.coordinator, .registry] {
            let matching = nodes.indices.filter { nodes[$0].role == role }
            guard matching.count > 1 else { continue }
            // Several registries are replicas over one PostgreSQL database (docs/DEPLOYMENT.md); a SQLite
            // file has one owner.
            if role == .registry {
                let databases = matching.map { nodes[$0].options.registry?.database ?? RegistryOptions().database }
                if let file = matching.first(where: { !(nodes[$0].options.registry?.isServerDatabase ?? false) }) {
                    throw fail(
                        .duplicateName, "nodes[\(file)].options.database",
                        "several registries must share one postgres:// database; nodes[\(file)] has a SQLite file")
                }
                if Set(databases).count > 1 {
                    throw fail(
                        .invalidValue, "nodes[\(matching[1])].options.database",
                        "registries of one topology share one database (nodes[\(matching[0])] names another)")
                }
                continue
            }
            throw fail(.duplicateName, "nodes[\(matching[1])].role", "a topology has at most one \(role) (first is nodes[\(matching[0])])")
        }
    }

    private func validateNames() throws(TopologyError) {
        var seen: [String: Int] = [:]
        for (index, node) in nodes.enumerated() {
            for instance in node.instances {
                if let first = seen[instance.name] {
                    let what = instance.name == node.name ? "duplicate node name '\(node.name)'" : "worker process name '\(instance.name)'"
                    throw fail(.duplicateName, "nodes[\(index)].name", "\(what) is already used by nodes[\(first)]")
                }
                seen[instance.name] = index
            }
        }
    }

    /// The machine an endpoint binds on: tcp endpoints on a DNS name bind on that host; loopback and
    /// numeric ones on the node's host (nil host means the local machine). ipc paths are per machine too.
    private func machine(of endpoint: EndpointAddress, on node: NodeSpec) -> String {
        if endpoint.transport == .tcp, !endpoint.isNumericHost, endpoint.host != "localhost" { return endpoint.host ?? "" }
        return node.host ?? "<local>"
    }

    private func validateEndpointCollisions() throws(TopologyError) {
        struct Site { let path: String; let instance: String; let isExpanded: Bool }
        var seen: [String: Site] = [:]
        for (index, node) in nodes.enumerated() {
            for instance in node.instances {
                for (key, endpoint) in instance.endpoints.sorted(by: { $0.key < $1.key }) {
                    let identity: String
                    switch endpoint.transport {
                    case .tcp:
                        guard let port = endpoint.port else { continue }  // wildcard: the OS picks distinct ports
                        identity = "tcp \(machine(of: endpoint, on: node)):\(port)"
                    case .ipc: identity = "ipc \(machine(of: endpoint, on: node)):\(endpoint.path ?? "")"
                    case .inproc: identity = "inproc \(endpoint.path ?? "")"
                    }
                    let path = "nodes[\(index)].endpoints.\(key)"
                    if let other = seen[identity] {
                        let who = instance.name == node.name ? "" : " (process '\(instance.name)')"
                        let whom = other.isExpanded ? " (process '\(other.instance)')" : ""
                        throw fail(.endpointCollision, path, "\(endpoint)\(who) collides with \(other.path)\(whom)")
                    }
                    seen[identity] = Site(path: path, instance: instance.name, isExpanded: instance.name != node.name)
                }
            }
        }
    }

    private func validatePeers() throws(TopologyError) {
        for (index, node) in nodes.enumerated() {
            let path = "nodes[\(index)]"
            if node.peers.isEmpty {
                for role in node.role.defaultPeerRoles where !nodes.contains(where: { $0.role == role }) {
                    throw fail(.unknownReference, path, "a \(node.role) connects to a \(role), but the topology has none")
                }
                continue
            }
            for (peerIndex, peer) in node.peers.enumerated() {
                let peerPath = "\(path).peers[\(peerIndex)]"
                guard let target = self.node(named: peer) else {
                    throw fail(.unknownReference, peerPath, "unknown node '\(peer)' (known nodes: \(nodes.map(\.name).joined(separator: ", ")))")
                }
                guard target.name != node.name else { throw fail(.unknownReference, peerPath, "a node cannot be its own peer") }
                guard (node.role.defaultPeerRoles + node.role.optionalPeerRoles).contains(target.role) else {
                    throw fail(.unknownReference, peerPath, "a \(node.role) does not connect to a \(target.role) ('\(peer)')")
                }
            }
        }
    }
}
