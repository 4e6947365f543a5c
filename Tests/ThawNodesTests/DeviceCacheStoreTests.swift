import Foundation
import Testing
import ThawNN

@testable import ThawNodes

@Suite struct DeviceCacheStoreTests {
    private func sampleSnapshot() -> DeviceSnapshot {
        DeviceSnapshot(
            nextSequence: 42, deployment: Fixture.state(epoch: 7), annotatedLabels: [1: 1, 2: 2, 3: 3, 9: 9],
            entries: [
                Fixture.entry(
                    1, checkpoints: [1: Activation(shape: [2, 2], scalars: [1, 2, 3, 4])], upload: .durable(seq: 40)),
                Fixture.entry(2, createdAt: 1234),
                Fixture.entry(3, upload: .inFlight(seq: 41)),
            ])
    }

    @Test func snapshotRoundTripsThroughTheFile() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = DeviceCacheStore(path: directory.appendingPathComponent("cache.bin").path)
        #expect(try store.load() == nil)
        try store.save(sampleSnapshot())
        #expect(try store.load() == sampleSnapshot())
        // No temporary file is left behind by the atomic write.
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["cache.bin"])
    }

    @Test(arguments: [
        ("truncated", StateFileError.Code.truncated),
        ("flipped byte", .checksumMismatch),
        ("bad magic", .badMagic),
        ("new version", .unsupportedVersion),
        ("empty", .truncated),
    ])
    func corruptFilesThrowTypedErrors(corruption: String, expected: StateFileError.Code) throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("cache.bin").path
        var bytes = DeviceCacheStore.encode(sampleSnapshot())
        switch corruption {
        case "truncated": bytes.removeLast(9)
        case "flipped byte": bytes[bytes.count / 2] ^= 0x40
        case "bad magic": bytes[0] = UInt8(ascii: "X")
        case "new version": bytes[8] = 3
        default: bytes = []
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StateFileError.self) { try DeviceCacheStore(path: path).load() }
        #expect(error.code == expected)
        // Quarantine keeps the evidence and frees the path for a fresh start.
        let moved = try DeviceCacheStore(path: path).quarantine()
        #expect(FileManager.default.fileExists(atPath: moved))
        #expect(try DeviceCacheStore(path: path).load() == nil)
    }

    @Test func contentThatPassesTheChecksumIsStillValidated() throws {
        // A self-consistent file whose entry has no annotated label must not load.
        var snapshot = sampleSnapshot()
        snapshot.annotatedLabels.removeValue(forKey: 2)
        let error = try #require(throws: StateFileError.self) {
            try DeviceCacheStore.decode(DeviceCacheStore.encode(snapshot), path: "mem")
        }
        #expect(error.code == .invalidContent)
    }

    @Test func aFailedWriteThrowsAnIOErrorWithErrno() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = DeviceCacheStore(path: directory.appendingPathComponent("missing/cache.bin").path)
        let error = try #require(throws: StateFileError.self) { try store.save(sampleSnapshot()) }
        #expect(error.code == .io && error.errno != 0)
    }
}
