import Logging
import ThawNN
import ThawWire

extension DeviceFleet {
    /// Asks the registry which of `sampleIds` it lacks under `stamp` and collects the rejections workers
    /// recorded for this phone; the answer is fed back to the phone's state machine when it arrives
    /// (``freezeSyncArrived(_:phone:stamp:sampleIds:collectOnly:)``).
    ///
    /// - Parameter collectOnly: only rejections are wanted (no freeze move is waiting for an answer).
    /// - Returns: actions to carry out now: none, unless the request could not go out, in which case
    ///   every asked sample is treated as missing (the naive re-upload is the safe fallback).
    mutating func requestFreezeSync(
        phone index: Int, stamp: ActivationStamp, sampleIds: [UInt64], collectOnly: Bool = false
    ) async throws -> [DeviceAction] {
        let phone = phones[index]
        // One rejection collection per phone at a time is enough: the registry delivers each rejection once.
        if collectOnly, syncing.contains(index) { return [] }
        if collectOnly, inFlight.count >= Self.maximumInFlight { return [] }
        if !collectOnly, !maySync {
            // A move's syncs share the window of in-flight requests: after a shallower move every phone
            // asks at once, and at 10,000 phones the registry answered so slowly that thousands timed out
            // (each then treated every asked sample as missing, rebuilt and re-uploaded them all). They
            // wait here instead and go out as replies free the window (``drainSyncBacklog()``); the
            // timeout counts from the send, as before.
            syncing.insert(index)
            syncBacklog.append(WaitingSync(phone: index, stamp: stamp, sampleIds: sampleIds))
            return []
        }
        let request = FreezeSyncRequest(
            userID: phone.user.rawValue, deviceID: phone.device.rawValue, modelVersion: stamp.modelVersion.number,
            freezePoint: UInt32(stamp.freezePoint.index), hyperHash: stamp.hyperParameterHash, sampleIDs: sampleIds)
        syncing.insert(index)
        do {
            try await issue(
                .freezeSyncRequest(request), for: index,
                purpose: .sync(stamp: stamp, sampleIds: sampleIds, collectOnly: collectOnly))
        } catch {
            syncing.remove(index)
            return freezeSyncFailed(phone: index, stamp: stamp, sampleIds: sampleIds, collectOnly: collectOnly, error)
        }
        return []
    }

    /// Most of a move's freeze syncs in flight at once: half the window, so that head pulls (whose
    /// replies carry the acks the outboxes wait for) keep the other half while thousands of syncs wait.
    static let maximumSyncsInFlight = maximumInFlight / 2

    /// Whether a move's freeze sync may go out now (the window has room, and syncs hold at most half).
    var maySync: Bool {
        guard inFlight.count < Self.maximumInFlight else { return false }
        let syncs = inFlight.values.count { if case .sync(_, _, false) = $0.purpose { true } else { false } }
        return syncs < Self.maximumSyncsInFlight
    }

    /// Sends the waiting freeze syncs, oldest first, while ``maySync`` (ahead of head pulls, which share
    /// the window: a move's rebuilds wait for these answers).
    mutating func drainSyncBacklog() async throws {
        var taken = 0
        defer { syncBacklog.removeFirst(taken) }
        while taken < syncBacklog.count, maySync, !inbox.controlPending {
            let waiting = syncBacklog[taken]
            taken += 1
            catchUp(waiting.phone)
            syncing.remove(waiting.phone)
            // A sync for a move the phone no longer waits on (a newer change came while it waited) is
            // not sent: its answer would be ignored (``DeviceStateMachine/freezeSyncReceived``).
            guard phones[waiting.phone].machine.awaitingSync == waiting.stamp else { continue }
            try await perform(
                requestFreezeSync(phone: waiting.phone, stamp: waiting.stamp, sampleIds: waiting.sampleIds),
                phone: waiting.phone)
        }
    }

    /// No answer (timeout, refusal, send failure): after a move every asked sample counts as missing.
    mutating func freezeSyncFailed(
        phone index: Int, stamp: ActivationStamp, sampleIds: [UInt64], collectOnly: Bool, _ error: any Error
    ) -> [DeviceAction] {
        logger.warning(
            "freeze sync failed; treating every asked sample as missing",
            metadata: ["device": "\(phones[index].device)", "error": "\(error)"])
        return collectOnly ? [] : phones[index].machine.freezeSyncReceived(stamp: stamp, missing: sampleIds)
    }

    /// The registry answered a freeze sync.
    mutating func freezeSyncArrived(
        _ reply: FreezeSyncReply, phone index: Int, stamp: ActivationStamp, sampleIds: [UInt64], collectOnly: Bool
    ) -> [DeviceAction] {
        let phone = phones[index]
        phones[index].syncRequests += 1
        var actions: [DeviceAction] = []
        let now = WallClock.now()
        for rejection in reply.rejections {
            phones[index].rejectionsReceived += 1
            actions += phones[index].machine.batchRejected(
                seq: rejection.deviceSeq, reason: Self.reason(rejection.reason),
                current: WireBridge.deployment(rejection.currentState), now: now)
        }
        if !collectOnly {
            StdoutLine.write(
                FreezeSyncLine(
                    device: phone.device.rawValue, freezePoint: stamp.freezePoint.index, asked: sampleIds.count,
                    missing: reply.missingSampleIDs.count, rejections: reply.rejections.count))
            actions += phones[index].machine.freezeSyncReceived(stamp: stamp, missing: reply.missingSampleIDs)
        }
        return actions
    }

    static func reason(_ wire: BatchRejected.Reason) -> BatchRejectionReason {
        switch wire {
        case .staleModelVersion: .staleModel
        case .staleFreezePoint: .staleFreezePoint
        case .staleHyperParameters: .staleHyperParameters
        case .invalid: .invalid
        }
    }
}

/// A freeze sync waiting for room in the window of in-flight registry requests.
struct WaitingSync {
    var phone: Int
    var stamp: ActivationStamp
    var sampleIds: [UInt64]
}

/// A progress line on stdout for every feature batch a phone sends (first sends and re-sends), so a
/// test or an operator can count uploads around a freeze move.
struct BatchSentLine: Codable, Sendable {
    var event = "batch-sent"
    var device: String
    var seq: UInt64
    var freezePoint: Int
    var samples: Int
    var bytes: Int
    var attempt: Int
    var sampleIds: [UInt64]
}

/// A line per rebuild of cached activations after a freeze move: how many entries were advanced from
/// a stored activation and how many needed the raw input.
struct CacheRebuiltLine: Codable, Sendable {
    var event = "cache-rebuilt"
    var device: String
    var freezePoint: Int
    var fromActivation: Int
    var fromRaw: Int
    var layerRuns: Int
}

/// A line per answered freeze sync after a shallower move.
struct FreezeSyncLine: Codable, Sendable {
    var event = "freeze-sync"
    var device: String
    var freezePoint: Int
    var asked: Int
    var missing: Int
    var rejections: Int
}
