import ArgumentParser
import Testing
import ThawTopology

@testable import thaw

@Suite struct TopologyCommandTests {
    @Test func validateParsesFileAndWorkers() throws {
        let command = try Thaw.parseAsRoot(["topology", "validate", "Topologies/local.yaml", "--workers", "3"])
        let validate = try #require(command as? TopologyCommand.Validate)
        #expect(validate.file == "Topologies/local.yaml")
        #expect(validate.workers == 3)
    }

    @Test func validateRequiresAFile() {
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["topology", "validate"]) }
    }

    @Test func summaryCountsProcessesAndSimulatedDevices() throws {
        let summary = TopologyCommand.Validate.summary(of: try Topology.embedded())
        #expect(summary == "ok: 6 nodes (1 coordinator, 1 registry, 2 workers, 1 device process simulating 8 devices, 1 monitor)")
    }

    @Test func summaryFollowsWorkerOverride() throws {
        let summary = TopologyCommand.Validate.summary(of: try Topology.embedded().overridingWorkerCount(4))
        #expect(summary.hasPrefix("ok: 8 nodes (1 coordinator, 1 registry, 4 workers,"))
    }
}
