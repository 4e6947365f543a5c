import Foundation
import Testing
import ThawNN

@testable import ThawNodes

/// The device process's single state store: group commit, the same checks as the per-phone file format,
/// corrupt rows moved aside one by one.
@Suite struct DeviceFleetStoreTests {
    private func snapshot(_ next: UInt64) -> DeviceSnapshot {
        DeviceSnapshot(
            nextSequence: next, deployment: Fixture.state(epoch: 3), annotatedLabels: [1: 1, 2: 2],
            entries: [Fixture.entry(1, upload: .inFlight(seq: next - 1)), Fixture.entry(2, upload: .durable(seq: 1))])
    }

    @Test func manyPhonesRoundTripThroughOneTransaction() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try DeviceFleetStore(path: DeviceFleetStore.path(stateDirectory: directory.path))
        defer { try? store.close() }
        #expect(try store.load(device: "p-0") == nil)
        try store.save((0..<50).map { ("p-\($0)", snapshot(UInt64($0) + 2)) })
        // A later group replaces a phone's row, leaves the others.
        try store.save([("p-7", snapshot(99))])
        #expect(try store.load(device: "p-7") == snapshot(99))
        #expect(try store.load(device: "p-8") == snapshot(10))
        let all = try store.loadAll()
        #expect(all.count == 50)
        #expect(all.values.allSatisfy { if case .success = $0 { true } else { false } })
    }

    @Test func aCorruptRowIsRefusedAloneAndMovedAside() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try DeviceFleetStore(path: DeviceFleetStore.path(stateDirectory: directory.path))
        defer { try? store.close() }
        try store.save([("good", snapshot(5))])
        var bytes = DeviceCacheStore.encode(snapshot(6))
        bytes[bytes.count / 2] ^= 0xFF
        try store.saveRaw(bytes, device: "bad")
        let all = try store.loadAll()
        #expect(try all["good"]?.get() == snapshot(5))
        guard case .failure(let error) = all["bad"] else {
            Issue.record("a flipped byte must fail the checksum")
            return
        }
        #expect(error.code == .checksumMismatch)
        #expect(throws: StateFileError.self) { try store.load(device: "bad") }
        try store.quarantine(device: "bad", error: error)
        #expect(try store.load(device: "bad") == nil)
        #expect(try store.loadAll().count == 1)
    }

    @Test func persistedReportsReadEveryDeviceStoreOfARun() throws {
        let run = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: run) }
        for node in ["phones", "more"] {
            let directory = run.appendingPathComponent(node).path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let store = try DeviceFleetStore(path: DeviceFleetStore.path(stateDirectory: directory))
            try store.save([("\(node)-0", snapshot(4)), ("\(node)-1", snapshot(2))])
            try store.close()
        }
        let reports = try DeviceFleetNode.persistedReports(stateDirectory: run.path)
        #expect(reports.map(\.device) == ["more-0", "more-1", "phones-0", "phones-1"])
        #expect(reports.allSatisfy { $0.annotated == 2 })
        let one = try DeviceFleetNode.persistedReports(stateDirectory: run.appendingPathComponent("phones").path)
        #expect(one.map(\.device) == ["phones-0", "phones-1"])
    }
}

@Suite struct PhoneQueueTests {
    @Test func phonesComeOutInDueOrderAndOnlyWhenDue() {
        var queue = PhoneQueue()
        let start = ContinuousClock.now
        let offsets = [5, 1, 9, 3, 7, 0, 8, 2, 6, 4]
        for (phone, offset) in offsets.enumerated() { queue.push(phone, due: start + .milliseconds(offset)) }
        #expect(queue.popDue(now: start - .milliseconds(1)) == nil)
        var order: [Int] = []
        while let entry = queue.popDue(now: start + .milliseconds(100)) { order.append(offsets[entry.phone]) }
        #expect(order == Array(0..<10))
        #expect(queue.nextDue == nil)
    }
}

@Suite struct FleetInboxTests {
    @Test func aWaitEndsWhenAnEventArrivesAndDrainKeepsOrder() async throws {
        let inbox = FleetInbox()
        // Times out with nothing waiting.
        await inbox.wait(until: .now + .milliseconds(10))
        #expect(inbox.drain().isEmpty)
        async let waited: Void = inbox.wait(until: .now + .seconds(60))
        inbox.put(.shutdown)
        inbox.put(.closed)
        await waited
        let events = inbox.drain()
        #expect(events.count == 2)
        if case .shutdown = events.first {} else { Issue.record("events out of order: \(events)") }
    }
}
