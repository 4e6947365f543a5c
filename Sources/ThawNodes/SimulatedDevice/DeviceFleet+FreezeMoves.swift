import Logging
import ThawNN
import ThawWire

extension DeviceFleet {
    /// Asks the registry which of `sampleIds` it lacks under `stamp` and collects the rejections workers
    /// recorded for this phone; feeds both back to the phone's state machine.
    ///
    /// - Parameter collectOnly: only rejections are wanted (no freeze move is waiting for an answer).
    /// - Returns: the phone's actions. If the registry cannot be reached after a move, every asked sample
    ///   is treated as missing: the naive re-upload is the safe fallback.
    mutating func syncFreezeMove(
        phone index: Int, stamp: ActivationStamp, sampleIds: [UInt64], collectOnly: Bool = false
    ) async -> [DeviceAction] {
        let phone = phones[index]
        let request = FreezeSyncRequest(
            userID: phone.user.rawValue, deviceID: phone.device.rawValue, modelVersion: stamp.modelVersion.number,
            freezePoint: UInt32(stamp.freezePoint.index), hyperHash: stamp.hyperParameterHash, sampleIDs: sampleIds)
        let reply: FreezeSyncReply
        do {
            let answer = try await registry.request(.freezeSyncRequest(request), stamper: &stamper) {
                if case .freezeSyncReply = $0 { true } else { false }
            }
            guard case .freezeSyncReply(let decoded) = answer else { throw NodeError(.refused, "unexpected reply") }
            reply = decoded
        } catch {
            logger.warning(
                "freeze sync failed; treating every asked sample as missing",
                metadata: ["device": "\(phone.device)", "error": "\(error)"])
            return collectOnly ? [] : phones[index].machine.freezeSyncReceived(stamp: stamp, missing: sampleIds)
        }
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
