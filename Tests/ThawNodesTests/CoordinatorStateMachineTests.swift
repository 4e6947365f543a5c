import Foundation
import Testing
import ThawNN

@testable import ThawNodes

@Suite struct CoordinatorStateMachineTests {
    private func coordinator(
        autoFreeze: AutoFreezePolicy = .init(), restoring snapshot: CoordinatorSnapshot? = nil
    ) throws -> CoordinatorStateMachine {
        try CoordinatorStateMachine(
            configuration: .init(layerCount: 6, heartbeatInterval: .seconds(5), autoFreeze: autoFreeze),
            initial: Fixture.state(version: 1, freeze: 4, epoch: 1), restoring: snapshot, now: Fixture.at(0))
    }

    @Test func modelVersionsNeverGoBackwards() throws {
        var machine = try coordinator()
        let actions = try machine.publishModel(version: ModelVersion(2), hash: "m2")
        let state = Fixture.state(version: 2, freeze: 4, epoch: 2, hash: "m2")
        #expect(
            actions == [
                .persist(CoordinatorSnapshot(deployment: state, lastFreezeMoveAt: nil)), .broadcastModelAnnounce(state),
            ])
        for stale in [UInt64(1), 2] {
            let error = try #require(throws: CoordinatorError.self) {
                try machine.publishModel(version: ModelVersion(stale), hash: "x")
            }
            #expect(error.code == .versionNotNewer)
        }
        #expect(machine.deployment == state)
    }

    @Test func freezePointMovesAreValidatedAndBumpTheEpoch() throws {
        var machine = try coordinator()
        for bad in [0, 6, 9] {
            let error = try #require(throws: CoordinatorError.self) {
                try machine.moveFreezePoint(to: FreezePoint(bad), now: Fixture.at(1))
            }
            #expect(error.code == .freezePointOutOfRange)
        }
        #expect(try machine.moveFreezePoint(to: FreezePoint(4), now: Fixture.at(1)).isEmpty)  // no change
        let actions = try machine.moveFreezePoint(to: FreezePoint(2), now: Fixture.at(2))
        let state = Fixture.state(version: 1, freeze: 2, epoch: 2)
        #expect(
            actions.last == .broadcastFreezePointChange(from: FreezePoint(4), to: FreezePoint(2), state: state, reason: "operator"))
        #expect(actions.first == .persist(CoordinatorSnapshot(deployment: state, lastFreezeMoveAt: Fixture.at(2))))
    }

    @Test func invalidationsAreBroadcastWithoutChangingTheState() throws {
        let machine = try coordinator()
        let actions = machine.invalidate(user: UserID("f0001"), sampleIds: [4, 5], reason: .mislabelled)
        #expect(
            actions == [
                .broadcastInvalidation(
                    Invalidation(user: UserID("f0001"), sampleIds: [4, 5], reason: .mislabelled, epoch: 1))
            ])
        #expect(machine.invalidate(user: nil, sampleIds: [], reason: .userDeleted).isEmpty)
        #expect(machine.deployment.epoch == 1)
    }

    @Test func heartbeatsCarryTheFullStateAtTheConfiguredCadence() throws {
        var machine = try coordinator()
        var beats: [(seconds: Double, counter: UInt64)] = []
        for seconds in [0, 1, 4.9, 5, 9, 10.2, 12, 15.2] {
            for case .broadcastHeartbeat(let state, let counter) in machine.tick(now: Fixture.at(seconds)) {
                #expect(state == machine.deployment)
                beats.append((seconds, counter))
            }
        }
        #expect(beats.map(\.seconds) == [0, 5, 10.2, 15.2])
        #expect(beats.map(\.counter) == [1, 2, 3, 4])
    }

    @Test func autoFreezeIsOffByDefault() throws {
        var machine = try coordinator()
        for user in 0..<5 { machine.storedSamplesReported(user: UserID("u\(user)"), count: 10_000) }
        #expect(machine.tick(now: Fixture.at(100_000)).count == 1)  // the heartbeat only
        #expect(machine.deployment.freezePoint == FreezePoint(4))
    }

    @Test func autoFreezeThawsOneLayerWhenTheMedianUserHasEnoughData() throws {
        let policy = AutoFreezePolicy(
            isEnabled: true, minimumMedianSamples: 100, minimumInterval: .seconds(60),
            minimumFreezePoint: FreezePoint(3))
        var machine = try coordinator(autoFreeze: policy)
        // Median of [10, 50, 500] is 50: not enough.
        for (user, count) in [("a", 10), ("b", 50), ("c", 500)] {
            machine.storedSamplesReported(user: UserID(user), count: count)
        }
        #expect(machine.tick(now: Fixture.at(120)).count == 1)
        machine.storedSamplesReported(user: UserID("b"), count: 150)  // median now 150
        let moved = machine.tick(now: Fixture.at(200))
        #expect(
            moved.contains(
                .broadcastFreezePointChange(
                    from: FreezePoint(4), to: FreezePoint(3), state: machine.deployment,
                    reason: "automatic: median user has 150 stored samples")))
        #expect(machine.lastFreezeMoveAt == Fixture.at(200))
        // The counts were for the old point; even with new reports, the interval must pass again...
        for user in ["a", "b", "c"] { machine.storedSamplesReported(user: UserID(user), count: 1000) }
        #expect(
            machine.tick(now: Fixture.at(230)).allSatisfy { if case .broadcastHeartbeat = $0 { true } else { false } })
        // ...and the minimum freeze point is never crossed.
        _ = machine.tick(now: Fixture.at(10_000))
        #expect(machine.deployment.freezePoint == FreezePoint(3))
    }

    @Test func medianOfEvenAndOddCounts() {
        #expect(AutoFreezePolicy.median([]) == nil)
        #expect(AutoFreezePolicy.median([3, 1, 2]) == 2)
        #expect(AutoFreezePolicy.median([4, 1, 3, 2]) == 2.5)
    }

    @Test func stateSurvivesARestartAndStillNeverGoesBackwards() throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = CoordinatorStateStore(path: directory.appendingPathComponent("coordinator.json").path)
        #expect(try store.load() == nil)
        var machine = try coordinator()
        for action in try machine.publishModel(version: ModelVersion(5), hash: "m5")
            + machine.moveFreezePoint(to: FreezePoint(3), now: Fixture.at(7))
        {
            if case .persist(let snapshot) = action { try store.save(snapshot) }
        }
        let restored = try #require(try store.load())
        #expect(restored == machine.snapshot)
        // The restarted coordinator starts from the file, not from its (older) initial state.
        var restarted = try coordinator(restoring: restored)
        #expect(restarted.deployment == Fixture.state(version: 5, freeze: 3, epoch: 3, hash: "m5"))
        #expect(throws: CoordinatorError.self) { try restarted.publishModel(version: ModelVersion(4), hash: "old") }
        #expect(try restarted.publishModel(version: ModelVersion(6), hash: "m6").count == 2)
        #expect(restarted.deployment.epoch == 4)
    }

    @Test(arguments: [
        ("{\"format\":1,\"modelVersion\":3", StateFileError.Code.invalidContent),
        ("not json", .invalidContent),
        (
            "{\"format\":2,\"modelVersion\":3,\"modelHash\":\"m\",\"freezePoint\":2,\"hyperParameterHash\":\"h\",\"epoch\":1}",
            .unsupportedVersion
        ),
        (
            "{\"format\":1,\"modelVersion\":3,\"modelHash\":\"m\",\"freezePoint\":0,\"hyperParameterHash\":\"h\",\"epoch\":1}",
            .invalidContent
        ),
    ])
    func corruptCoordinatorFilesThrowTypedErrors(content: String, expected: StateFileError.Code) throws {
        let directory = try Fixture.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("coordinator.json").path
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StateFileError.self) { try CoordinatorStateStore(path: path).load() }
        #expect(error.code == expected)
    }

    @Test func aRestoredFreezePointOutsideTheModelIsRefused() throws {
        let snapshot = CoordinatorSnapshot(deployment: Fixture.state(freeze: 9), lastFreezeMoveAt: nil)
        #expect(throws: CoordinatorError.self) { try coordinator(restoring: snapshot) }
    }
}
