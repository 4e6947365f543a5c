import Testing
import ThawTopology

@Suite struct OverrideTests {
    @Test func ipcRewriteReplacesEveryEndpoint() throws {
        let topology = try Topology.embedded().rewritingEndpoints(toIPCUnder: "/tmp/thaw-ab12")
        let endpoints = topology.instances.flatMap { $0.endpoints.values }
        #expect(!endpoints.isEmpty)
        #expect(endpoints.allSatisfy { $0.transport == .ipc })
        #expect(Set(endpoints).count == endpoints.count)
        #expect(topology.instance(named: "coordinator")?.endpoints["publish"] == "ipc:///tmp/thaw-ab12/coordinator.publish")
        #expect(topology.instance(named: "worker-1")?.endpoints["pull"] == "ipc:///tmp/thaw-ab12/worker.pull-1")
    }

    @Test func ipcRewriteDropsHostsOfAMultiHostTopology() throws {
        let text = """
            nodes:
              - { name: coordinator, role: coordinator, host: cloud-1,
                  endpoints: { publish: "tcp://cloud-1:5701", control: "tcp://cloud-1:5702" } }
            """
        let topology = try Topology.parse(yaml: text, origin: "<test>").rewritingEndpoints(toIPCUnder: "/tmp/t")
        #expect(topology.nodes[0].host == nil)
    }

    @Test func ipcPathTooLongIsRejected() throws {
        let directory = "/tmp/" + String(repeating: "x", count: 100)
        let error = #expect(throws: TopologyError.self) { try Topology.embedded().rewritingEndpoints(toIPCUnder: directory) }
        #expect(error?.code == .invalidEndpoint)
        #expect(error?.keyPath == "nodes[0].endpoints.control" || error?.keyPath == "nodes[0].endpoints.publish")
    }

    @Test func closureRewriteIsValidatedAgain() throws {
        let error = #expect(throws: TopologyError.self) {
            try Topology.embedded().rewritingEndpoints { _, _, _ in "inproc://same" }
        }
        #expect(error?.code == .endpointCollision)
    }

    @Test func closureRewriteSeesNodeAndEndpointNames() throws {
        let topology = try Topology.embedded().rewritingEndpoints { node, name, _ in
            try! EndpointAddress(parsing: "inproc://\(node.name)/\(name)")
        }
        #expect(topology.instance(named: "registry")?.endpoints["router"] == "inproc://registry/router")
        #expect(topology.instance(named: "worker-0")?.endpoints["pull"] == "inproc://worker/pull")
        #expect(topology.instance(named: "worker-1")?.endpoints["pull"] == "inproc://worker/pull-1")
    }

    @Test func workerCountOverrideExpandsProcesses() throws {
        let topology = try Topology.embedded().overridingWorkerCount(5)
        let workers = topology.instances(of: .worker)
        #expect(workers.map(\.name) == ["worker-0", "worker-1", "worker-2", "worker-3", "worker-4"])
        #expect(workers.map { $0.endpoints["pull"]?.port } == [5710, 5711, 5712, 5713, 5714])
        #expect(try Topology.embedded().overridingWorkerCount(1).instances(of: .worker).map(\.name) == ["worker"])
    }

    @Test(arguments: [0, 65])
    func workerCountOutOfRangeIsRejected(_ count: Int) throws {
        let error = #expect(throws: TopologyError.self) { try Topology.embedded().overridingWorkerCount(count) }
        #expect(error?.description == "<embedded local.yaml>: nodes[2].count: count \(count) is out of range (a worker allows 1...64)")
    }

    @Test func workerCountOverrideDetectsNewCollisions() throws {
        let text = """
            nodes:
              - { name: coordinator, role: coordinator, endpoints: { publish: "tcp://127.0.0.1:5701", control: "tcp://127.0.0.1:5702" } }
              - { name: registry, role: registry, endpoints: { router: "tcp://127.0.0.1:5720" } }
              - { name: worker, role: worker, endpoints: { pull: "tcp://127.0.0.1:5710" } }
            """
        let topology = try Topology.parse(yaml: text, origin: "t.yaml")
        let error = #expect(throws: TopologyError.self) { try topology.overridingWorkerCount(11) }
        #expect(error?.description == "t.yaml: nodes[2].endpoints.pull: tcp://127.0.0.1:5720 (process 'worker-10') collides with nodes[1].endpoints.router")
    }

    @Test func workerCountOverrideNeedsAWorker() throws {
        let text = """
            nodes:
              - { name: coordinator, role: coordinator, endpoints: { publish: "inproc://p", control: "inproc://c" } }
            """
        let error = #expect(throws: TopologyError.self) { try Topology.parse(yaml: text, origin: "t.yaml").overridingWorkerCount(2) }
        #expect(error?.code == .unknownReference)
    }
}
