import Foundation
import Testing
import ThawModel
import ThawNN
import ThawWire

@testable import ThawNodes

/// The XOR-deflate head delta (docs/PROTOCOL.md, "Head deltas"): lossless, and every malformed frame is
/// a typed failure, never a wrong head.
@Suite struct HeadDeltaCodecTests {
    static func head(_ count: Int, seed: UInt64) -> [Float] {
        var generator = SeededGenerator(seed: seed)
        return (0..<count).map { _ in Float.random(in: -0.5...0.5, using: &generator) }
    }

    @Test func applyingTheDeltaGivesTheNewHeadBitForBit() throws {
        let base = Self.head(5_000, seed: 1)
        var target = base
        for i in stride(from: 0, to: target.count, by: 7) { target[i] += 0.001 * Float(i % 13) }
        // Awkward values survive exactly: signed zeros, a subnormal, the largest finite float.
        target[1] = -0.0
        target[2] = .leastNonzeroMagnitude
        target[3] = .greatestFiniteMagnitude
        let delta = try HeadDelta.encode(base: base, target: target)
        let applied = try HeadDelta.apply(delta, to: base)
        #expect(applied.map(\.bitPattern) == target.map(\.bitPattern))
        #expect(delta.count < 4 * target.count / 2, "a change to one value in seven compresses well")
    }

    /// docs/PROTOCOL.md's worked example, compressed by Python's `zlib.compress(planes, 6)`.
    @Test func theDocumentedExampleDecodes() throws {
        let frame: [UInt8] = [0x78, 0x9C, 0x63, 0x60, 0x00, 0x02, 0x05, 0x06, 0x06, 0x00, 0x00, 0x68, 0x00, 0x21]
        #expect(try HeadDelta.apply(frame, to: [1, 2]) == [1, 2.5])
        #expect(HeadDelta.xorPlanes([1, 2], [1, 2.5]) == [0, 0, 0, 0, 0, 0x20, 0, 0])
        #expect(try HeadDelta.apply(try HeadDelta.encode(base: [1, 2], target: [1, 2.5]), to: [1, 2]) == [1, 2.5])
    }

    @Test func anUnchangedHeadCostsAlmostNothingAndAFullChangeCostsAboutTheFullHead() throws {
        let base = Self.head(10_000, seed: 2)
        let same = try HeadDelta.encode(base: base, target: base)
        #expect(same.count < 100)
        #expect(try HeadDelta.apply(same, to: base) == base)
        let unrelated = Self.head(10_000, seed: 3)
        let full = try HeadDelta.encode(base: base, target: unrelated)
        #expect(full.count > 4 * 10_000 * 8 / 10, "random bits do not compress: \(full.count)")
    }

    @Test func everyMalformedDeltaIsATypedFailure() throws {
        let base = Self.head(1_000, seed: 4)
        var target = base
        target[10] = 1
        let delta = try HeadDelta.encode(base: base, target: target)
        func failure(_ bytes: [UInt8], base: [Float] = base) -> HeadDelta.Failure.Code? {
            do {
                _ = try HeadDelta.apply(bytes, to: base)
                return nil
            } catch {
                return error.code
            }
        }
        #expect(failure([]) == .wrongLength)
        #expect(failure(Array(delta.prefix(delta.count / 2))) == .wrongLength)
        #expect(failure(delta + [0]) == .wrongLength)
        #expect(failure(delta, base: Array(base.dropLast())) == .wrongLength)
        #expect(failure(delta, base: base + [0]) == .wrongLength)
        #expect(failure([0x12, 0x34, 0x56, 0x78]) == .corrupt)
        // A flipped bit in the compressed data breaks either the deflate stream or the Adler-32 trailer.
        for position in [2, delta.count / 2, delta.count - 1] {
            var flipped = delta
            flipped[position] ^= 0x10
            #expect(failure(flipped) != nil, "byte \(position) flipped")
        }
        // A stream that decodes to NaN bits is refused too.
        var nan = base
        nan[0] = .nan
        let toNaN = HeadDelta.xorPlanes(base, nan)
        #expect(toNaN.count == 4 * base.count)
        #expect(throws: HeadDelta.Failure.self) {
            try HeadDelta.encode(base: base, target: Array(base.dropFirst()))
        }
    }
}

/// The registry decides between the full head and a delta; no sockets, no database.
@Suite struct RegistryHeadDeltaTests {
    typealias Machine = ModelRegistryStateMachine
    typealias T = RegistryMachineTests

    static func request(have: String, acceptDelta: Bool) -> ThawMessage {
        .headRequest(
            HeadRequest(
                userID: "alice", deviceID: "phone-1", haveHash: have, modelVersion: 1, freezePoint: 2,
                acceptDelta: acceptDelta))
    }

    static let record = HeadRecord(
        user: UserID("alice"), version: 2, parentVersion: 1, stamps: T.stamps, hash: "new",
        parameters: [Float](repeating: 0.1, count: 18), loss: 0, samples: 2, createdAt: Date())

    @Test func aRequesterThatAcceptsADeltaGetsOneAgainstTheHeadItNames() throws {
        var machine = T.machine(T.headIndex(version: 2, hash: "new"))
        let pull = machine.receive(T.request(Self.request(have: "OLD", acceptDelta: true), id: 5), from: T.phone)
        guard case (let ticket, .readHead(UserID("alice"), deltaBase: "old"))? = T.stores(pull).first else {
            Issue.record("expected a head read with the delta base, got \(pull)")
            return
        }
        let actions = machine.stored(ticket: ticket, .head(Self.record, delta: .made([1, 2, 3], base: "old")))
        guard case (5, .headReply(let reply))? = T.replies(actions).first else {
            Issue.record("expected a reply, got \(actions)")
            return
        }
        #expect(reply.status == .headDelta)
        #expect(reply.headDelta == [1, 2, 3] && reply.headParameters == nil)
        #expect(reply.deltaBaseHash == "old" && reply.headHash == "new" && reply.headVersion == 2)
        #expect(actions.contains { if case .count(.headDeltasServed, 1) = $0 { true } else { false } })
        #expect(actions.contains { if case .count(.headDeltaFullBytes, 72) = $0 { true } else { false } })
    }

    @Test func withoutTheBaseOrWithoutAskingTheRequesterGetsTheFullHead() throws {
        // An older client (no accept_delta) never sees a delta and the store is not asked for one.
        var machine = T.machine(T.headIndex(version: 2, hash: "new"))
        let plain = machine.receive(T.request(Self.request(have: "old", acceptDelta: false), id: 1), from: T.phone)
        guard case (_, .readHead(_, deltaBase: nil))? = T.stores(plain).first else {
            Issue.record("expected a plain head read, got \(plain)")
            return
        }
        // No head held: nothing to make a delta against.
        let fresh = machine.receive(T.request(Self.request(have: "", acceptDelta: true), id: 2), from: T.phone)
        guard case (_, .readHead(_, deltaBase: nil))? = T.stores(fresh).first else {
            Issue.record("expected a plain head read, got \(fresh)")
            return
        }
        // The base was pruned, has other stamps, or the delta is not smaller: the full head, counted.
        for (id, offer) in [
            (UInt64(3), Machine.DeltaOffer.missing("old", "head old is not stored")),
            (4, .made([UInt8](repeating: 0, count: 72), base: "old")),
            (5, .made([1], base: "another")),
        ] {
            let pull = machine.receive(T.request(Self.request(have: "old", acceptDelta: true), id: id), from: T.phone)
            let (ticket, _) = try #require(T.stores(pull).first)
            let actions = machine.stored(ticket: ticket, .head(Self.record, delta: offer))
            guard case (id, .headReply(let reply))? = T.replies(actions).first else {
                Issue.record("expected a reply to \(id), got \(actions)")
                continue
            }
            #expect(reply.status == .head && reply.headParameters?.scalars.count == 18 && reply.headDelta == nil)
            #expect(actions.contains { if case .count(.headDeltaFallbacks, 1) = $0 { true } else { false } })
        }
    }

    /// Commits a user's first head and a second one that differs in one parameter; returns both commits,
    /// the first head's stored hash and the latest head record.
    static func twoHeads(_ store: any RegistryBackend) throws -> (ThawNodes.HeadCommit, String, ThawNodes.HeadCommit, HeadRecord) {
        let first = RegistryFixtures.commit(parent: 0, samples: 2)
        guard case .committed(_, let firstHash) = try store.commitHead(first) else {
            throw RegistryError(.corruptRow, "first commit failed")
        }
        var second = first
        second.parentVersion = 1
        second.parameters[0] += 1
        second.hash = "test-second"
        _ = try store.commitHead(second)
        return (first, firstHash, second, try #require(try store.latestHead(first.user)))
    }

    @Test(arguments: TestBackend.available)
    func theStorageThreadMakesADeltaOnlyAgainstAStoredHeadWithTheSameStamps(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let (first, firstHash, second, latest) = try Self.twoHeads(store)
            // Heads are found by content hash (the base of a delta), and only the user's own.
            #expect(try store.head(first.user, hash: firstHash)?.parameters == first.parameters)
            #expect(try store.head(first.user, hash: "test-second")?.version == 2)
            #expect(try store.head(UserID("someone-else"), hash: firstHash) == nil)
            let offer = try RegistryStorage.delta(to: latest, from: firstHash, store: store)
            let bytes = try #require(offer.bytes)
            #expect(try HeadDelta.apply(bytes, to: first.parameters) == second.parameters)
            #expect(try RegistryStorage.delta(to: latest, from: "unknown", store: store).bytes == nil)
            #expect(try RegistryStorage.delta(to: latest, from: latest.hash, store: store).bytes == nil)
        }
    }

    @Test(arguments: TestBackend.available)
    func aDeltaMadeForOnePhoneIsReusedForTheNextPhoneOfTheSameUser(_ backend: TestBackend) throws {
        try withTemporaryStore(backend) { store throws in
            let (_, firstHash, _, latest) = try Self.twoHeads(store)
            let recent = RegistryStorage.RecentDeltas(capacity: 2)
            let made = try #require(try RegistryStorage.delta(to: latest, from: firstHash, store: store, recent: recent).bytes)
            let key = RegistryStorage.RecentDeltas.Key(
                user: latest.user, version: latest.version, hash: latest.hash, base: firstHash)
            #expect(recent.bytes(for: key) == made)
            // The second phone's request is answered with the same bytes, now from the kept copy.
            #expect(try RegistryStorage.delta(to: latest, from: firstHash, store: store, recent: recent).bytes == made)
            // Bounded: two newer pairs push the first one out.
            for base in ["b1", "b2"] {
                recent.keep([1], for: .init(user: latest.user, version: latest.version, hash: latest.hash, base: base))
            }
            #expect(recent.bytes(for: key) == nil)
        }
    }
}

/// The phone decides when to ask for a delta, which deltas apply, and falls back to the full head.
@Suite struct DeviceHeadDeltaTests {
    @Test func aPhoneAsksForDeltasOnlyWhileItRunsAHeadAndFallsBackAfterARefusal() throws {
        var machine = DeviceStateMachine.ready()
        #expect(!machine.acceptsHeadDelta, "no head yet: nothing to apply a delta to")
        let deployment = try #require(machine.deployment)
        let first = HeadInfo(
            version: 1, hash: "aaa", freezePoint: deployment.freezePoint, modelVersion: deployment.modelVersion)
        #expect(machine.headReceived(first) == [.swapHead(first)])
        #expect(machine.acceptsHeadDelta)
        #expect(machine.headDeltaApplies(toBase: "aaa") && machine.headDeltaApplies(toBase: "AAA"))
        #expect(!machine.headDeltaApplies(toBase: "bbb") && !machine.headDeltaApplies(toBase: ""))

        // A refused delta: counted, the running head stays, and the full head is asked for at once.
        let now = Fixture.at(100)
        #expect(machine.headDeltaRefused(now: now) == [.requestHead(haveHash: "aaa")])
        #expect(machine.head == first && machine.statistics.headDeltasRefused == 1)
        #expect(!machine.acceptsHeadDelta, "after a refusal the next pull asks for the full head")

        // The full head arrives: deltas are welcome again.
        let second = HeadInfo(
            version: 2, hash: "ccc", freezePoint: deployment.freezePoint, modelVersion: deployment.modelVersion)
        #expect(machine.headReceived(second) == [.swapHead(second)])
        #expect(machine.acceptsHeadDelta)
        machine.headDeltaApplied()
        #expect(machine.statistics.headDeltasApplied == 1)
    }

    @Test func aPhoneConfiguredWithoutDeltasNeverAsksForOne() throws {
        var machine = DeviceStateMachine(
            configuration: DeviceConfiguration(layerCount: 6, headDeltas: false))
        _ = machine.deploymentObserved(Fixture.state(), now: Fixture.at(0))
        let deployment = try #require(machine.deployment)
        let head = HeadInfo(
            version: 1, hash: "aaa", freezePoint: deployment.freezePoint, modelVersion: deployment.modelVersion)
        _ = machine.headReceived(head)
        #expect(!machine.acceptsHeadDelta)
    }
}

/// The phone's compute-queue job applies a delta, then checks the result like a full head.
@Suite struct HeadDeltaCheckTests {
    static let architecture = ModelArchitecture(
        inputShape: [4], layers: [.dense(inputs: 4, outputs: 5), .relu, .dense(inputs: 5, outputs: 3)])

    static func job(delta: [UInt8], base: [Float], claimedHash: String) -> HeadCheckJob {
        let reply = HeadReply(
            status: .headDelta, userID: "alice", headVersion: 2, parentVersion: 1, headHash: claimedHash,
            modelVersion: 1, freezePoint: 2, hyperHash: "h", durableSeqs: [], headParameters: nil,
            deltaBaseHash: "base", headDelta: delta)
        var job = HeadCheckJob(
            phone: 0, reply: reply,
            info: HeadInfo(version: 2, hash: claimedHash, freezePoint: FreezePoint(2), modelVersion: ModelVersion(1)),
            what: "head v2 of alice", freezePoint: FreezePoint(2))
        job.contract = ModelContract(architecture)
        job.delta = HeadCheckJob.Delta(base: base, bytes: delta)
        return job
    }

    @Test func aDeltaIsUsedOnlyWhenItsResultHashesToTheAnnouncedHead() throws {
        let count = Self.architecture.parameterCount(layers: 2..<Self.architecture.layerCount)
        let base = HeadDeltaCodecTests.head(count, seed: 7)
        var target = base
        target[3] += 0.25
        let hash = ContentHash.head(parameters: target, freezePoint: FreezePoint(2), architecture: Self.architecture).hex
        let delta = try HeadDelta.encode(base: base, target: target)

        let good = Self.job(delta: delta, base: base, claimedHash: hash).run(on: nil, verifications: nil)
        #expect(good.refusal == nil && good.fromDelta)
        #expect(good.reply.status == .head && good.reply.headParameters?.scalars == target)

        // The same delta applied to another base gives a head that does not hash to the announced one.
        var otherBase = base
        otherBase[0] += 1
        let wrongBase = Self.job(delta: delta, base: otherBase, claimedHash: hash).run(on: nil, verifications: nil)
        #expect((wrongBase.refusal as? InputViolation)?.reason == .hashMismatch && wrongBase.fromDelta)

        // A corrupt frame never becomes a head.
        var corrupt = delta
        corrupt[corrupt.count / 2] ^= 0xFF
        let broken = Self.job(delta: corrupt, base: base, claimedHash: hash).run(on: nil, verifications: nil)
        #expect(broken.refusal != nil && broken.fromDelta)
        #expect(broken.reply.headParameters == nil)
    }
}
