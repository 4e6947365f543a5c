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
