import Foundation
import Testing
import ThawTopology

/// Every scenario in the repository's `Topologies/` folder loads and validates.
@Suite struct TopologyFileTests {
    /// `Topologies/` at the package root, found from this source file so no resource copy can go stale.
    static let folder = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Topologies")

    static var files: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted()
    }

    @Test func topologiesFolderIsNotEmpty() {
        #expect(Self.files.contains("local.yaml"))
        #expect(Self.files.count >= 3)
    }

    @Test(arguments: files)
    func topologyFileLoadsAndValidates(_ file: String) throws {
        let topology = try Topology.load(path: Self.folder.appendingPathComponent(file).path)
        #expect(!topology.nodes.isEmpty)
        // A deployment has one coordinator, or (the FedAvg baseline) one fedavg server instead.
        #expect(topology.instances(of: .coordinator).count + topology.instances(of: .fedavg).count == 1)
    }

    @Test func fedAvgTopologyMakesItsPhonesClientsOfTheServer() throws {
        let topology = try Topology.load(path: Self.folder.appendingPathComponent("fedavg.yaml").path)
        let server = try #require(topology.instance(named: "server"))
        #expect(server.role == .fedavg)
        #expect(server.spec.options.fedavg?.rounds == 10)
        #expect(server.spec.options.fedavg?.freezePoint == 7)
        #expect(topology.node(named: "phones")?.peers == ["server"])
    }

    @Test func embeddedDefaultIsIdenticalToLocalYAML() throws {
        let text = try String(contentsOf: Self.folder.appendingPathComponent("local.yaml"), encoding: .utf8)
        #expect(Topology.embeddedDefault == text)
        let embedded = try Topology.embedded()
        #expect(embedded.origin == Topology.embeddedDefaultOrigin)
    }

    @Test func localDemoHasTheDocumentedShape() throws {
        let topology = try Topology.embedded()
        #expect(topology.instances.map(\.name) == ["coordinator", "registry", "worker-0", "worker-1", "phones", "monitor"])
        #expect(topology.instance(named: "worker-1")?.endpoints["pull"] == "tcp://127.0.0.1:5711")
        #expect(topology.node(named: "phones")?.count == 8)
        #expect(topology.node(named: "phones")?.options.device?.flush.interval == .seconds(3))
        #expect(topology.node(named: "coordinator")?.options.coordinator?.autoFreeze == .off)
        #expect(topology.goal == Goal(headsPerDevice: 1, duration: .seconds(600)))
        let devicePeers = topology.peerInstances(of: try #require(topology.node(named: "phones"))).map(\.name)
        #expect(devicePeers == ["coordinator", "registry", "worker-0", "worker-1"])
    }

    @Test func loadTopologyReadsEveryOption() throws {
        let topology = try Topology.load(path: Self.folder.appendingPathComponent("load.yaml").path)
        #expect(topology.node(named: "crowd")?.count == 1000)
        #expect(topology.instances(of: .worker).count == 4)
        let worker = try #require(topology.node(named: "worker")?.options.worker)
        #expect(worker.optimiser == .momentum && worker.batchSize == 64 && worker.epochs == 2)
        #expect(
            topology.node(named: "coordinator")?.options.coordinator?.autoFreeze
                == .thaw(medianSamples: 64, interval: .seconds(120), minimumFreezePoint: 1))
        #expect(topology.seed == 7)
    }

    @Test func multiHostTopologyBindsEveryInterfaceForNamedHosts() throws {
        let topology = try Topology.load(path: Self.folder.appendingPathComponent("multi-host.yaml").path)
        let coordinator = try #require(topology.instance(named: "coordinator"))
        #expect(coordinator.spec.host == "cloud-1")
        #expect(coordinator.endpoints["publish"]?.bindAddress == "tcp://*:5701")
        #expect(topology.instance(named: "trainer-2")?.endpoints["pull"] == "tcp://cloud-2:5712")
        let phones = try #require(topology.node(named: "edge-phones"))
        #expect(phones.options.device?.users == .ids(["writer-0001", "writer-0002", "writer-0003", "writer-0004"]))
        #expect(topology.data == .directory("/srv/thaw/handwriting"))
    }
}
