import Testing
import ThawTopology

@Suite struct SecuritySettingsTests {
    static let nodes = """
        nodes:
          - { name: coordinator, role: coordinator, endpoints: { publish: "tcp://127.0.0.1:1", control: "ipc:///tmp/c" } }

        """

    @Test func curveIsOnByDefaultForTCPOnly() throws {
        let topology = try Topology.parse(yaml: Self.nodes, origin: "t.yaml")
        #expect(topology.security == SecuritySettings())
        #expect(topology.security.protects("tcp://127.0.0.1:1"))
        #expect(!topology.security.protects("ipc:///tmp/c"))
        #expect(try Topology.embedded().security.curve)
    }

    @Test func theSectionSetsCurveKeysAndAllowlist() throws {
        let text = "security: { curve: off, keys: /etc/thaw/keys, allowlist: /etc/thaw/allowlist }\n" + Self.nodes
        let topology = try Topology.parse(yaml: text, origin: "t.yaml")
        #expect(topology.security == SecuritySettings(curve: false, keys: "/etc/thaw/keys", allowlist: "/etc/thaw/allowlist"))
        #expect(!topology.security.protects("tcp://127.0.0.1:1"))
    }

    @Test func badValuesAreRejectedWithKeyPath() {
        let error = #expect(throws: TopologyError.self) {
            try Topology.parse(yaml: "security: { curve: maybe }\n" + Self.nodes, origin: "t.yaml")
        }
        #expect(error?.keyPath == "security.curve")
        let unknown = #expect(throws: TopologyError.self) {
            try Topology.parse(yaml: "security: { key: x }\n" + Self.nodes, origin: "t.yaml")
        }
        #expect(unknown?.keyPath == "security.key")
    }
}
