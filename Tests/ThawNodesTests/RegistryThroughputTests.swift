import Foundation
import Testing
import ThawNN
import ThawNodes

/// A rough throughput measurement of the store, off by default (timing on a shared 2-core machine is
/// noisy). Run with `THAW_REGISTRY_BENCH=1 swift test --skip-build --filter RegistryThroughputTests`.
@Suite struct RegistryThroughputTests {
    @Test(.enabled(if: ProcessInfo.processInfo.environment["THAW_REGISTRY_BENCH"] != nil))
    func storeAndCommitThroughput() throws {
        try withTemporaryStore { store throws in
            let stamps = RegistryFixtures.stamps
            let width = 512
            let batches = 200
            let perBatch = 32
            let clock = ContinuousClock()
            let storeTime = try clock.measure {
                for sequence in 0..<batches {
                    let samples = (0..<perBatch).map { index in
                        FeatureSample(
                            sampleID: UInt64(sequence * perBatch + index), label: index % 10,
                            activations: StoredActivations(
                                shape: [width], scalars: [Float](repeating: Float(index), count: width)))
                    }
                    let batch = FeatureBatch(
                        user: UserID("writer-\(sequence % 8)"), device: DeviceID("phone-\(sequence % 8)"),
                        sequence: UInt64(sequence), stamps: stamps, samples: samples)
                    _ = try store.storeBatch(batch)
                }
            }
            let readTime = try clock.measure {
                for user in 0..<8 {
                    _ = try store.features(UserID("writer-\(user)"), stamps: stamps, limit: 100_000)
                }
            }
            let head = [Float](repeating: 0.5, count: 512 * 10 + 10)
            let commits = 200
            let commitTime = try clock.measure {
                for parent in 0..<commits {
                    _ = try store.commitHead(
                        HeadCommit(
                            user: UserID("writer-0"), parentVersion: UInt64(parent), stamps: stamps,
                            parameters: head, hash: "bench-\(parent)", loss: 0.1, samples: 1))
                }
            }
            func perSecond(_ count: Int, _ duration: Duration) -> Int {
                Int(
                    Double(count)
                        / (Double(duration.components.attoseconds) / 1e18 + Double(duration.components.seconds)))
            }
            print(
                """
                registry-bench: \(batches) batches x \(perBatch) samples x \(width) floats stored in \(storeTime) \
                (\(perSecond(batches, storeTime)) batches/s, \(perSecond(batches * perBatch, storeTime)) samples/s); \
                read \(batches * perBatch) rows in \(readTime) (\(perSecond(batches * perBatch, readTime)) rows/s); \
                \(commits) head commits of \(head.count) floats in \(commitTime) (\(perSecond(commits, commitTime)) commits/s)
                """)
            #expect(try store.latestHead(UserID("writer-0"))?.version == UInt64(commits))
        }
    }
}
