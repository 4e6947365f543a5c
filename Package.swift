// swift-tools-version: 6.1
import PackageDescription

// Module graph (arrows point down only; see docs/ARCHITECTURE.md):
//
//   thaw (CLI) ─▶ ThawNodes ─▶ ThawZMQ, ThawWire, ThawTopology     (leaves: never import each other)
//                         └──▶ ThawLearning ─▶ ThawModel ─▶ ThawNN (leaf)
//                                          └─▶ ThawData (leaf)
let package = Package(
    name: "Thaw",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "thaw", targets: ["thaw"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        // FilePath for swift-subprocess's `Executable.path` off Apple platforms (Apple's SDK has System).
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swhitty/FlyingFox", exact: "0.27.1"),
        // The registry's shared backend (docs/DEPLOYMENT.md): several registry processes over one PostgreSQL.
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // ByteBuffer for PostgreSQL array parameters (already in the graph through postgres-nio).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // C libraries from Debian packages, as system-library targets (no vendored headers).
        // libzmq: pkgConfig is left out on purpose; its .pc file adds a flag SwiftPM refuses.
        .systemLibrary(name: "CLibZMQ", providers: [.apt(["libzmq3-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

        // Leaves.
        .target(name: "ThawZMQ", dependencies: ["CLibZMQ"]),
        .target(name: "ThawNN", dependencies: ["CBLAS"]),
        .target(
            name: "ThawWire",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Protos"]
        ),
        .target(name: "ThawTopology", dependencies: ["Yams"]),
        .target(name: "ThawData", dependencies: ["CZlib"], resources: [.copy("Resources/handwriting")]),

        // Model files and training jobs, over the engine and the data.
        .target(
            name: "ThawModel",
            dependencies: ["ThawNN", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "ThawLearning",
            dependencies: ["ThawNN", "ThawData", .product(name: "Logging", package: "swift-log")]
        ),

        // What a phone's compute and radio cost: the device role charges it, the evaluation prices with it.
        .target(name: "ThawDeviceProfile", dependencies: ["ThawNN"]),

        // The roles, where the leaves meet. Nothing here is a simulation, a benchmark or a fuzzer.
        .target(
            name: "ThawNodes",
            dependencies: [
                "ThawZMQ", "ThawNN", "ThawWire", "ThawTopology", "ThawData", "ThawModel", "ThawLearning",
                "ThawDeviceProfile", "CZlib",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                // SHA-256 batch fingerprints (ModelRegistry/BatchFingerprint.swift).
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // Beside the roles, never inside them: each depends on ThawNodes (package access), never the reverse.
        .target(
            name: "ThawLauncher",
            dependencies: [
                "ThawNodes", "ThawTopology", "ThawZMQ", "ThawNN", "ThawModel", "ThawData",
                "ThawWire",  // LiveStatus reads the monitor board's reports
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ThawSimulation",
            dependencies: ["ThawNodes", "ThawDeviceProfile", "ThawWire", "ThawNN", "ThawData", "ThawLearning"]
        ),
        .target(
            name: "ThawBench",
            dependencies: [
                "ThawNodes", "ThawLauncher", "ThawSimulation", "ThawDeviceProfile", "ThawWire", "ThawZMQ",
                "ThawTopology", "ThawNN", "ThawModel", "ThawData", "ThawLearning",
            ]
        ),
        .target(name: "ThawFuzz", dependencies: ["ThawNodes", "ThawWire", "ThawModel", "ThawNN"]),
        // The monitor's HTTP face (Prometheus /metrics, the live dashboard): FlyingFox stays out of the roles.
        .target(
            name: "ThawDashboard",
            dependencies: [
                "ThawNodes", "ThawWire", .product(name: "FlyingFox", package: "FlyingFox"),
                .product(name: "FlyingSocks", package: "FlyingFox"),
            ]
        ),

        // The thin CLI.
        .executableTarget(
            name: "thaw",
            dependencies: [
                "ThawNodes", "ThawLauncher", "ThawSimulation", "ThawBench", "ThawFuzz", "ThawDeviceProfile",
                "ThawDashboard", "ThawTopology", "ThawLearning", "ThawData", "ThawModel", "ThawNN", "ThawZMQ",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // Test support (not a product; nothing under Sources/ imports it but tests).
        .target(
            name: "ThawTestKit",
            dependencies: [
                "ThawZMQ",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system", condition: .when(platforms: [.linux])),
            ]
        ),

        .testTarget(name: "ThawZMQTests", dependencies: ["ThawZMQ", "ThawTestKit"]),
        .testTarget(name: "ThawNNTests", dependencies: ["ThawNN", "ThawTestKit"]),
        .testTarget(
            name: "ThawWireTests",
            // SwiftProtobuf: the malformed-input tests edit generated headers directly.
            dependencies: ["ThawWire", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(name: "ThawTopologyTests", dependencies: ["ThawTopology"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ThawDataTests", dependencies: ["ThawData"]),
        .testTarget(
            name: "ThawModelTests",
            dependencies: ["ThawModel", "ThawNN", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "ThawLearningTests", dependencies: ["ThawLearning", "ThawModel", "ThawNN", "ThawData"]),
        .testTarget(
            name: "ThawNodesTests",
            dependencies: [
                "ThawNodes", "ThawLauncher", "ThawDeviceProfile", "ThawFuzz", "ThawModel", "ThawNN", "ThawWire", "ThawTestKit",
                "ThawDashboard", .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),

        .testTarget(name: "ThawCLITests", dependencies: ["thaw"]),
        .testTarget(
            name: "ThawIntegrationTests",
            dependencies: [
                "thaw", "ThawTestKit", "ThawNodes", "ThawLauncher", "ThawBench", "ThawLearning", "ThawData", "ThawModel", "ThawNN", "ThawZMQ",
                "ThawTopology",
                // ThawWire + SwiftProtobuf: HostileInputTests edits generated headers to build lying messages.
                "ThawWire", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ]
        ),
    ]
)

// Every Swift target gets the same upcoming features (the swift-metrics / NIO habit).
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}
