import Foundation
import Testing
import ThawWire

/// Pins the exact bytes of every message kind so that an accidental wire change fails a test.
///
/// Each `Fixtures/<kind>.hex` holds the frames `WireCodec.encode` produces for `Samples.all`, one
/// lowercase hex line per frame. After an *intentional* wire change (new field, new kind), regenerate
/// them and review the diff:
///
///     THAW_REGENERATE_WIRE_FIXTURES=1 swift test --filter GoldenFixtureTests
///
/// (that writes into the source tree's Tests/ThawWireTests/Fixtures; rebuild before the next normal run,
/// because the test bundle holds a copy).
@Suite struct GoldenFixtureTests {
    static let regenerate = ProcessInfo.processInfo.environment["THAW_REGENERATE_WIRE_FIXTURES"] == "1"

    @Test(arguments: (Samples.all + Samples.variants).map(\.name))
    func encodedBytesMatchTheFixture(name: String) throws {
        let message = try #require((Samples.all + Samples.variants).first { $0.name == name }?.message)
        let frames = try WireCodec.encode(message, metadata: Samples.metadata)
        if Self.regenerate {
            try Self.write(frames, to: Self.sourceFixtures.appendingPathComponent("\(name).hex"))
            return
        }
        let url = try #require(
            Bundle.module.url(forResource: name, withExtension: "hex", subdirectory: "Fixtures"),
            "missing fixture \(name).hex; see GoldenFixtureTests to regenerate"
        )
        let expected = try Self.read(url)
        #expect(frames == expected, "wire bytes of \(name) changed; if intended, regenerate the fixtures")
        // The pinned bytes also decode back to the sample: old fixtures stay readable.
        #expect(try WireCodec.decode(expected).message == message)
    }

    /// Frames built by Python's protobuf (scripts/wire-python-interop.py, the docs/PROTOCOL.md recipe).
    @Test func pythonBuiltFeatureBatchDecodes() throws {
        let url = try #require(
            Bundle.module.url(forResource: "python_feature_batch", withExtension: "hex", subdirectory: "Fixtures"))
        let decoded = try WireCodec.decode(try Self.read(url))
        let expected = FeatureBatch(
            userID: "py-user", deviceID: "py-device", deviceSeq: 5, modelVersion: 3, modelHash: "ab12cd34",
            freezePoint: 4, hyperHash: "ff00", sampleIDs: [7, 8], labels: [1, 2], createdAtMs: 1_764_650_000_000,
            activations: WireTensor(shape: [2, 3], scalars: [0.5, -1.0, 2.25, 0.0, 3.5, -0.125])
        )
        #expect(decoded.message == .featureBatch(expected))
        #expect(decoded.metadata == WireMetadata(sender: "py-device", sequence: 11, sentAtUnixMs: 1_764_650_000_001))
    }

    static var sourceFixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    static func write(_ frames: [[UInt8]], to url: URL) throws {
        let lines = frames.map { frame in frame.isEmpty ? "-" : frame.map { String(format: "%02x", $0) }.joined() }
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    }

    static func read(_ url: URL) throws -> [[UInt8]] {
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            if line == "-" { return [] }
            let characters = Array(line.utf8)
            try #require(characters.count % 2 == 0, "odd hex line in \(url.lastPathComponent)")
            return try stride(from: 0, to: characters.count, by: 2).map { index in
                try #require(UInt8(String(decoding: characters[index..<index + 2], as: UTF8.self), radix: 16))
            }
        }
    }
}
