import Foundation
import Testing
import ThawNN

@testable import ThawNodes

@Suite struct OutboxTests {
    private let retry = Outbox.RetryPolicy(initialDelay: .seconds(2), maximumDelay: .seconds(10))

    @Test func backoffDoublesUpToTheCap() {
        #expect((1...6).map { retry.delay(afterAttempt: $0) } == [2, 4, 8, 10, 10, 10].map { Duration.seconds($0) })
    }

    @Test func unacknowledgedBatchesAreResentWithBackoff() {
        var outbox = Outbox(capacity: 2, retry: retry)
        let seq = outbox.enqueue(sampleIds: [1, 2], stamp: Fixture.stamp(), now: Fixture.at(0))
        #expect(seq == 1)
        #expect(outbox.takeDueRetries(now: Fixture.at(1.9)).isEmpty)
        #expect(outbox.takeDueRetries(now: Fixture.at(2)).map(\.attempts) == [2])  // next in 4 s
        #expect(outbox.takeDueRetries(now: Fixture.at(5.9)).isEmpty)
        #expect(outbox.takeDueRetries(now: Fixture.at(6)).map(\.attempts) == [3])  // next in 8 s
        #expect(outbox[seq]?.nextRetryAt == Fixture.at(14))
    }

    @Test func acksRemoveBatchesAndDuplicatesAreIgnored() {
        var outbox = Outbox(capacity: 2, retry: retry)
        let first = outbox.enqueue(sampleIds: [1], stamp: Fixture.stamp(), now: Fixture.at(0))
        let second = outbox.enqueue(sampleIds: [2], stamp: Fixture.stamp(), now: Fixture.at(0))
        #expect(outbox.isFull)
        #expect(outbox.acknowledge([first, 99]).map(\.seq) == [first])
        #expect(outbox.acknowledge([first]).isEmpty)  // redelivered ack
        #expect(!outbox.isFull && outbox.outstanding.map(\.seq) == [second])
        #expect(outbox.takeDueRetries(now: Fixture.at(100)).map(\.seq) == [second])
    }

    @Test func sequenceNumbersNeverRepeatAcrossARestart() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = DeviceCacheStore(path: directory.appendingPathComponent("device.bin").path)
        var device = DeviceStateMachine(configuration: .init(layerCount: 6, flush: FlushPolicy(minimumBatch: 1)))
        _ = device.deploymentObserved(Fixture.state(), now: Fixture.at(0))
        var sent: [UInt64] = []
        for id in UInt64(1)...3 {
            _ = device.sampleArrived(sampleId: id, annotated: true, label: 1, now: Fixture.at(0))
            _ = device.backboneComputed(
                sampleId: id, activation: Fixture.activation(4), checkpoints: [:], modelVersion: .init(1),
                freezePoint: .init(3))
            for action in device.tick(now: Fixture.at(Double(id))) {
                if case .persistCache(let snapshot) = action { try store.save(snapshot) }
                if case .sendBatch(let batch) = action { sent.append(batch.seq) }
            }
        }
        #expect(sent == [1, 2, 3])
        // Crash without any further persist, restart from the file: the next batch gets seq 4.
        var restarted = DeviceStateMachine(
            configuration: .init(layerCount: 6, flush: FlushPolicy(minimumBatch: 1)), restoring: try store.load())
        let resent = restarted.tick(now: Fixture.at(10)).compactMap { action -> DeviceBatch? in
            if case .sendBatch(let batch) = action { return batch }
            return nil
        }
        // The outbox survived: the three unacknowledged batches go out again under their own sequence
        // numbers (so the registry recognises any it already stored), and the next new batch gets seq 4.
        #expect(resent.map(\.seq) == [1, 2, 3])
        #expect(resent.map { $0.entries.map(\.sampleId) } == [[1], [2], [3]])
        #expect(restarted.outbox.nextSequence == 4)
    }
}
