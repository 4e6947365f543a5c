import Foundation
import Testing
import ThawTopology

/// Each broken fixture must fail with exactly this diagnostic (after the file path) and code.
@Suite struct BrokenFixtureTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let file: String
        let code: TopologyError.Code
        let keyPath: String
        let message: String
        var testDescription: String { file }
    }

    static let cases: [Case] = [
        Case(
            file: "unknown-role.yaml", code: .unknownRole, keyPath: "nodes[2].role",
            message: "nodes[2].role: unknown role 'wrker' (expected one of coordinator, registry, worker, device, monitor, fedavg)"
        ),
        Case(
            file: "unknown-key.yaml", code: .unknownKey, keyPath: "nodes[1].endpoint",
            message: "nodes[1].endpoint: unknown key 'endpoint' (expected one of name, role, host, count, endpoints, peers, options)"
        ),
        Case(
            file: "unknown-endpoint-name.yaml", code: .unknownKey, keyPath: "nodes[0].endpoints.contrl",
            message: "nodes[0].endpoints.contrl: unknown key 'contrl' (expected one of publish, control)"
        ),
        Case(
            file: "missing-role.yaml", code: .missingKey, keyPath: "nodes[0]",
            message: "nodes[0]: missing required key 'role'"
        ),
        Case(
            file: "missing-endpoint.yaml", code: .missingKey, keyPath: "nodes[0].endpoints",
            message: "nodes[0].endpoints: missing required endpoint 'control' (a coordinator binds publish, control)"
        ),
        Case(
            file: "duplicate-name.yaml", code: .duplicateName, keyPath: "nodes[3].name",
            message: "nodes[3].name: duplicate node name 'worker' is already used by nodes[2]"
        ),
        Case(
            file: "bad-endpoint.yaml", code: .invalidEndpoint, keyPath: "nodes[2].endpoints.pull",
            message: "nodes[2].endpoints.pull: 'tcp://127.0.0.1' has no port (expected tcp://host:port)"
        ),
        Case(
            file: "bad-transport.yaml", code: .invalidEndpoint, keyPath: "nodes[0].endpoints.publish",
            message: "nodes[0].endpoints.publish: 'udp://127.0.0.1:5701' uses unknown transport 'udp' (expected tcp, ipc or inproc)"
        ),
        Case(
            file: "endpoint-collision.yaml", code: .endpointCollision, keyPath: "nodes[2].endpoints.pull",
            message: "nodes[2].endpoints.pull: tcp://127.0.0.1:5711 (process 'worker-1') collides with nodes[1].endpoints.router"
        ),
        Case(
            file: "missing-peer.yaml", code: .unknownReference, keyPath: "nodes[3].peers[2]",
            message: "nodes[3].peers[2]: unknown node 'trainers' (known nodes: coordinator, registry, worker, phones)"
        ),
        Case(
            file: "count-out-of-range.yaml", code: .outOfRange, keyPath: "nodes[2].count",
            message: "nodes[2].count: count 0 is out of range (a worker allows 1...64)"
        ),
        Case(
            file: "wrong-type.yaml", code: .invalidValue, keyPath: "nodes[2].options.epochs",
            message: "nodes[2].options.epochs: expected an integer, got 'many'"
        ),
        Case(
            file: "no-coordinator.yaml", code: .unknownReference, keyPath: "nodes[0]",
            message: "nodes[0]: a registry connects to a coordinator, but the topology has none"
        ),
        Case(
            file: "user-count-mismatch.yaml", code: .outOfRange, keyPath: "nodes[3].options.users",
            message: "nodes[3].options.users: 3 user ids listed but count is 8"
        ),
        Case(
            file: "not-kebab-case.yaml", code: .invalidValue, keyPath: "nodes[0].name",
            message: "nodes[0].name: node name 'Coordinator_1' is not kebab-case (lower-case letters, digits and single dashes)"
        ),
        Case(
            file: "host-mismatch.yaml", code: .invalidEndpoint, keyPath: "nodes[0].endpoints.publish",
            message: "nodes[0].endpoints.publish: endpoint host 'cloud-2' is not the node's host 'cloud-1'"
        ),
    ]

    static func fixturePath(_ file: String) throws -> String {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return folder.appendingPathComponent(file).path
    }

    @Test(arguments: cases)
    func brokenFixtureFailsWithDiagnostic(_ testCase: Case) throws {
        let path = try Self.fixturePath(testCase.file)
        let error = try #require(throws: TopologyError.self) { try Topology.load(path: path) }
        #expect(error.description == "\(path): \(testCase.message)")
        #expect(error.origin == path)
        #expect(error.keyPath == testCase.keyPath)
        #expect(error.code == testCase.code)
    }

    @Test func invalidYAMLIsReportedWithTheFile() throws {
        let path = try Self.fixturePath("invalid-yaml.yaml")
        let error = try #require(throws: TopologyError.self) { try Topology.load(path: path) }
        #expect(error.code == .invalidYAML)
        #expect(error.description.hasPrefix("\(path): invalid YAML"))
    }

    @Test func missingFileIsUnreadable() {
        let error = #expect(throws: TopologyError.self) { try Topology.load(path: "/nonexistent/thaw.yaml") }
        #expect(error?.code == .unreadableFile)
        #expect(error?.description.hasPrefix("/nonexistent/thaw.yaml: cannot read file") == true)
    }

    @Test func fixtureFolderHoldsOnlyKnownCases() throws {
        let folder = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".yaml") }
        let covered = Set(Self.cases.map(\.file)).union(["invalid-yaml.yaml"])
        #expect(Set(files) == covered)
    }
}
