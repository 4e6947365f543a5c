import Testing
import ThawTopology

@Suite struct OptionsDecodingTests {
    static func parse(_ nodes: String) throws -> Topology {
        let text = """
            nodes:
              - { name: coordinator, role: coordinator, endpoints: { publish: "inproc://p", control: "inproc://c" } }
              - { name: registry, role: registry, endpoints: { router: "inproc://r" } }
              - { name: worker, role: worker, endpoints: { pull: "inproc://w" } }

            """
        return try Topology.parse(yaml: text + nodes, origin: "t.yaml")
    }

    @Test func omittedOptionsTakeDefaults() throws {
        let topology = try Self.parse("  - { name: phones, role: device }\n")
        #expect(topology.node(named: "phones")?.options == .device(DeviceOptions()))
        #expect(topology.node(named: "worker")?.options == .worker(WorkerOptions()))
        #expect(topology.seed == 42 && topology.data == .default && topology.goal == Goal())
    }

    @Test func userListSetsCountWhenCountIsOmitted() throws {
        let topology = try Self.parse("  - { name: phones, role: device, options: { users: [a, b] } }\n")
        #expect(topology.node(named: "phones")?.count == 2)
    }

    @Test(arguments: [("250ms", Duration.milliseconds(250)), ("2s", .seconds(2)), ("1.5m", .seconds(90)), ("3", .seconds(3))])
    func durationsParse(_ text: String, _ expected: Duration) throws {
        let topology = try Self.parse("  - { name: monitor, role: monitor, options: { interval: \(text) } }\n")
        #expect(topology.node(named: "monitor")?.options.monitor?.interval == expected)
    }

    @Test func headInterpolationIsAWorkerOptionInZeroToOne() throws {
        let topology = try Self.parse(
            "  - { name: trainer, role: worker, endpoints: { pull: \"inproc://t\" }, options: { head-interpolation: 1 } }\n")
        #expect(topology.node(named: "trainer")?.options.worker?.headInterpolation == 1)
        #expect(WorkerOptions().headInterpolation == 0.5)
        let error = #expect(throws: TopologyError.self) {
            try Self.parse(
                "  - { name: trainer, role: worker, endpoints: { pull: \"inproc://t\" }, options: { head-interpolation: 0 } }\n")
        }
        #expect(error?.keyPath == "nodes[3].options.head-interpolation")
    }

    static func worker(_ options: String) throws -> Topology {
        try parse("  - { name: trainer, role: worker, endpoints: { pull: \"inproc://t\" }, options: \(options) }\n")
    }

    @Test func activationNoiseIsOffByDefaultAndReadsClipAndSigma() throws {
        #expect(WorkerOptions().activationNoise == nil)
        #expect(try Self.worker("{ activation-noise: off }").node(named: "trainer")?.options.worker?.activationNoise == nil)
        let noised = try Self.worker("{ activation-noise: { clip: 6.5, sigma: 0.05 } }")
        #expect(noised.node(named: "trainer")?.options.worker?.activationNoise == .init(clip: 6.5, sigma: 0.05))
        let clipOnly = try Self.worker("{ activation-noise: { clip: 1, sigma: 0 } }")
        #expect(clipOnly.node(named: "trainer")?.options.worker?.activationNoise == .init(clip: 1, sigma: 0))
    }

    @Test(arguments: [
        ("{ clip: 0, sigma: 0.1 }", "nodes[3].options.activation-noise.clip", TopologyError.Code.outOfRange),
        ("{ clip: 1, sigma: -0.1 }", "nodes[3].options.activation-noise.sigma", .outOfRange),
        ("{ clip: 1, sigma: 2000 }", "nodes[3].options.activation-noise.sigma", .outOfRange),
        ("{ clip: 1, sigma: .nan }", "nodes[3].options.activation-noise.sigma", .invalidValue),
        ("{ clip: big, sigma: 0.1 }", "nodes[3].options.activation-noise.clip", .invalidValue),
        ("{ sigma: 0.1 }", "nodes[3].options.activation-noise", .missingKey),
        ("{ clip: 1 }", "nodes[3].options.activation-noise", .missingKey),
        ("{ clip: 1, sigma: 0.1, seed: 3 }", "nodes[3].options.activation-noise.seed", .unknownKey),
        ("on", "nodes[3].options.activation-noise", .invalidValue),
    ])
    func badActivationNoiseIsRefusedWithItsKeyPath(_ value: String, _ keyPath: String, _ code: TopologyError.Code) {
        let error = #expect(throws: TopologyError.self) { try Self.worker("{ activation-noise: \(value) }") }
        #expect(error?.keyPath == keyPath)
        #expect(error?.code == code)
    }

    @Test func badDurationIsRejectedWithKeyPath() {
        let error = #expect(throws: TopologyError.self) {
            try Self.parse("  - { name: monitor, role: monitor, options: { interval: soon } }\n")
        }
        #expect(error?.keyPath == "nodes[3].options.interval")
    }

    @Test func annotationShareOutOfRangeIsRejected() {
        let error = #expect(throws: TopologyError.self) {
            try Self.parse("  - { name: phones, role: device, options: { annotation-share: 1.5 } }\n")
        }
        #expect(error?.description == "t.yaml: nodes[3].options.annotation-share: 1.5 is out of range (0.0...1.0)")
    }

    @Test func peerOfWrongRoleIsRejected() {
        let error = #expect(throws: TopologyError.self) {
            try Self.parse("  - { name: monitor, role: monitor }\n  - { name: phones, role: device, peers: [monitor] }\n")
        }
        #expect(error?.description == "t.yaml: nodes[4].peers[0]: a device does not connect to a monitor ('monitor')")
    }

    @Test func secondCoordinatorIsRejected() {
        let error = #expect(throws: TopologyError.self) {
            try Self.parse("  - { name: other, role: coordinator, endpoints: { publish: \"inproc://p2\", control: \"inproc://c2\" } }\n")
        }
        #expect(error?.description == "t.yaml: nodes[3].role: a topology has at most one coordinator (first is nodes[0])")
    }

    /// Issue 16: registries may be several only as replicas over one PostgreSQL database.
    @Test func registryReplicasMustShareOnePostgresDatabase() throws {
        let sqliteReplica = #expect(throws: TopologyError.self) {
            try Self.parse("  - { name: registry-2, role: registry, endpoints: { router: \"inproc://r2\" } }\n")
        }
        #expect(sqliteReplica?.keyPath == "nodes[0].options.database" || sqliteReplica?.keyPath == "nodes[1].options.database")
        func registry(_ name: String, _ database: String) -> String {
            "  - { name: \(name), role: registry, endpoints: { router: \"inproc://\(name)\" }, options: { database: \"\(database)\" } }\n"
        }
        // The parse helper's first registry uses the SQLite default: replace the whole node list.
        let shared = "postgres://thaw@127.0.0.1:5432/thaw"
        let text = """
            nodes:
              - { name: coordinator, role: coordinator, endpoints: { publish: "inproc://p", control: "inproc://c" } }
              - { name: worker, role: worker, endpoints: { pull: "inproc://w" } }

            """
        let two = try Topology.parse(yaml: text + registry("registry", shared) + registry("registry-2", shared), origin: "t.yaml")
        #expect(two.instances(of: .registry).map(\.name) == ["registry", "registry-2"])
        let other = #expect(throws: TopologyError.self) {
            try Topology.parse(
                yaml: text + registry("registry", shared) + registry("registry-2", shared + "2"), origin: "t.yaml")
        }
        #expect(other?.description.contains("share one database") == true)
    }

    @Test func unknownTopLevelKeyIsRejected() {
        let error = #expect(throws: TopologyError.self) { try Topology.parse(yaml: "node: []\n", origin: "t.yaml") }
        #expect(error?.description == "t.yaml: node: unknown key 'node' (expected one of name, seed, data, model, goal, security, nodes)")
    }
}
