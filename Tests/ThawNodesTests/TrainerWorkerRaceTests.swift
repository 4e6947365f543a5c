import Testing
import ThawNN
import ThawNodes

/// Two workers train the same user against one registry, interleaved step by step in many seeded
/// orders. Whatever the order, the user's heads must form one linear history with no lost update.
@Suite struct TrainerWorkerRaceTests {
    typealias F = RegistryFixtures
    static let user = UserID("writer-1")

    static let seeds = UInt64(1)...40

    @Test(arguments: seeds)
    func racingWorkersLeaveOneLinearHistory(seed: UInt64) throws {
        _ = try Self.race(seed: seed)
    }

    /// Guards the test itself: the interleavings must actually make commits collide.
    @Test func interleavingsProduceCommitConflicts() throws {
        let conflicts = try Self.seeds.map { try Self.race(seed: $0) }.reduce(0, +)
        #expect(conflicts > 0)
    }

    /// Runs one seeded race, checks its invariants, and returns how many commit conflicts it had.
    static func race(seed: UInt64) throws -> Int {
        try withTemporaryStore { store throws in
            var rng = RaceInterleavingGenerator(seed: seed)
            let configuration = TrainerWorkerConfiguration(maxConflictRetries: 50)
            var workers = [
                TrainerWorkerHarness(store: store, configuration: configuration),
                TrainerWorkerHarness(store: store, configuration: configuration),
            ]
            for index in workers.indices { workers[index].send(.deploymentObserved(F.deployment)) }
            // Six batches from three phones, dealt to the two workers; one is resent to both.
            var batches: [FeatureBatch] = []
            for phone in 1...3 {
                for sequence in UInt64(1)...2 {
                    batches.append(F.batch(device: "phone-\(phone)", sequence: sequence, firstSample: sequence * 10))
                }
            }
            var undelivered: [(Int, FeatureBatch)] = batches.map { (Int.random(in: 0...1, using: &rng), $0) }
            undelivered.append((0, batches[0]))
            undelivered.append((1, batches[0]))

            while !undelivered.isEmpty || workers.contains(where: { !$0.isIdle }) {
                let index = Int.random(in: 0...1, using: &rng)
                if !undelivered.isEmpty && Bool.random(using: &rng) {
                    let (target, batch) = undelivered.removeFirst()
                    workers[target].send(.batchReceived(batch))
                } else {
                    try workers[index].step()
                }
            }

            let history = try store.headHistory(Self.user)
            #expect(!history.isEmpty)
            #expect(history.map(\.version) == Array(1...UInt64(history.count)))
            #expect(history.map(\.parentVersion) == Array(0..<UInt64(history.count)))
            // Each head was trained on its parent's parameters: no update was lost.
            #expect(history.allSatisfy { $0.parameters.first == Float($0.version) })
            // The last head covers every stored sample, and each batch was stored once.
            #expect(history.last?.samples == 18)
            #expect(try store.featureCount(Self.user, stamps: F.stamps) == 18)
            let stored = workers.map(\.machine.metrics.batchesStored).reduce(0, +)
            let duplicates = workers.map(\.machine.metrics.duplicates).reduce(0, +)
            #expect(stored == 6)
            #expect(stored + duplicates <= 8)  // a resend absorbed while its first copy is in flight adds neither
            // Every batch was acknowledged to its device.
            var acknowledged = Set<String>()
            for worker in workers {
                for case .ackDevice(_, let device, let sequence, _) in worker.log {
                    acknowledged.insert("\(device)#\(sequence)")
                }
            }
            #expect(acknowledged.count == 6)
            #expect(workers.map(\.machine.metrics.commits).reduce(0, +) == history.count)
            return workers.map(\.machine.metrics.conflicts).reduce(0, +)
        }
    }
}
