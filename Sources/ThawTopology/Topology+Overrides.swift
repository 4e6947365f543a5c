extension Topology {
    /// A copy with every endpoint replaced by `transform`, validated again.
    ///
    /// Tests use it to move a topology file onto per-test `ipc://` paths; the transform sees the spec
    /// (before worker expansion, so one pattern serves all of a worker's processes), the endpoint name
    /// and the current endpoint.
    /// - Throws: ``TopologyError`` if the rewritten topology is invalid (e.g. two endpoints now collide).
    public func rewritingEndpoints(
        _ transform: (_ node: NodeSpec, _ name: String, _ endpoint: EndpointAddress) -> EndpointAddress
    ) throws(TopologyError) -> Topology {
        var copy = self
        for index in copy.nodes.indices {
            let node = copy.nodes[index]
            for (name, endpoint) in node.endpoints {
                copy.nodes[index].endpoints[name] = transform(node, name, endpoint)
            }
        }
        return try copy.validated()
    }

    /// A copy whose endpoints are `ipc://<directory>/<node>.<endpoint>` (worker processes add `-<index>`),
    /// validated again; hosts are dropped because ipc only reaches the local machine.
    /// - Parameter directory: a short directory (ipc paths are limited to 107 bytes), e.g. `/tmp/thaw-ab12`.
    /// - Throws: ``TopologyError`` with code `invalidEndpoint` when a path would be too long.
    public func rewritingEndpoints(toIPCUnder directory: String) throws(TopologyError) -> Topology {
        let base = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        var copy = self
        for index in copy.nodes.indices {
            let node = copy.nodes[index]
            copy.nodes[index].host = nil
            for (name, _) in node.endpoints {
                let text = "ipc://\(base)/\(node.name).\(name)"
                do {
                    copy.nodes[index].endpoints[name] = try EndpointAddress(parsing: text)
                } catch {
                    throw fail(.invalidEndpoint, "nodes[\(index)].endpoints.\(name)", error.reason)
                }
            }
        }
        return try copy.validated()
    }

    /// A copy in which every worker node runs `count` processes (`--workers N`), validated again.
    /// - Throws: ``TopologyError`` with code `outOfRange` if `count` is outside ``Role/countRange``, or
    ///   `unknownReference` if the topology has no worker node.
    public func overridingWorkerCount(_ count: Int) throws(TopologyError) -> Topology {
        var copy = self
        let workers = copy.nodes.indices.filter { copy.nodes[$0].role == .worker }
        guard !workers.isEmpty else { throw fail(.unknownReference, "nodes", "--workers \(count): the topology has no worker node") }
        for index in workers { copy.nodes[index].count = count }
        return try copy.validated()
    }
}
