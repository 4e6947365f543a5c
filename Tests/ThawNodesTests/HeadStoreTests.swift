import Foundation
import Testing

@testable import ThawNodes

/// Heads a device process's phones run: one copy per hash, the ones no longer arriving on disk.
@Suite struct HeadStoreTests {
    @Test func headsNotKeptGoToDiskAndComeBackBitForBit() async throws {
        let directory = NSTemporaryDirectory() + "thaw-heads-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var store = HeadStore(directory: directory)
        let old: [Float] = [1, -0.0, 3.5, .leastNonzeroMagnitude]
        let new: [Float] = [2, 4, 6, 8]
        let shared = store.put("old", old)
        #expect(shared == old)
        // An equal copy under the same hash is the one already held.
        #expect(store.put("old", [1, -0.0, 3.5, .leastNonzeroMagnitude]) == old)
        _ = store.put("new", new)
        #expect(store.source("old").parameters == old && store.source("old").file == nil)
        let queue = FleetCompute(label: "test.heads")
        store.spill(keeping: ["new"], on: queue)
        await queue.run {}
        #expect(store.parameters("old") == nil)
        #expect(store.parameters("new") == new)
        #expect(store.source("new").file == nil)
        let file = try #require(store.source("old").file)
        let read = try #require(HeadStore.read(file))
        #expect(read.map(\.bitPattern) == old.map(\.bitPattern))
        #expect(store.onDisk == ["old"] && store.spilled == 1)
        // Spilling again writes nothing twice; an unknown hash has no source.
        store.spill(keeping: [], on: queue)
        await queue.run {}
        #expect(store.spilled == 2 && store.inMemory.isEmpty)
        #expect(store.source("other").parameters == nil && store.source("other").file == nil)
        // A new process starts with an empty directory.
        let again = HeadStore(directory: directory)
        #expect(again.source("old").file == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
    }

    @Test func verificationsKeepTheNewestHeadsOnly() {
        let verifications = HeadVerifications(capacity: 2)
        verifications.record([1], hash: "a")
        verifications.record([2], hash: "b")
        verifications.record([2], hash: "b")
        #expect(verifications.verified([1], hash: "a"))
        verifications.record([3], hash: "c")
        #expect(!verifications.verified([1], hash: "a"))
        #expect(verifications.verified([2], hash: "b") && verifications.verified([3], hash: "c"))
    }
}
