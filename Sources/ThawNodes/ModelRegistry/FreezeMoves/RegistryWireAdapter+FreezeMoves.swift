import ThawNN
import ThawWire

extension RegistryWireAdapter {
    /// Answers the freeze-move requests (docs/FREEZE-MOVES.md), or nil for any other message.
    ///
    /// - `BatchRejected` from a worker: recorded for the device, answered with `RejectionRecorded`.
    /// - `FreezeSyncRequest` from a device: the asked samples the store lacks under the asked stamps,
    ///   plus (and then forgotten) every rejection recorded for the device.
    static func freezeMoveAnswer(_ message: ThawMessage, store: any RegistryBackend) throws -> ThawMessage? {
        switch message {
        case .batchRejected(let rejection):
            guard let reason = RejectReason(wire: rejection.reason) else { return nil }
            try store.recordRejection(
                RecordedRejection(
                    device: DeviceID(rejection.deviceID), sequence: rejection.deviceSeq, reason: reason,
                    current: WireBridge.deployment(rejection.currentState), detail: rejection.detail))
            return .rejectionRecorded(RejectionRecorded(deviceID: rejection.deviceID, deviceSeq: rejection.deviceSeq))
        case .freezeSyncRequest(let sync):
            let stamps = FeatureStamps(
                modelVersion: ModelVersion(sync.modelVersion), freezePoint: FreezePoint(Int(sync.freezePoint)),
                hyperParameterHash: sync.hyperHash)
            let missing = try store.missingSamples(UserID(sync.userID), stamps: stamps, among: sync.sampleIDs)
            let rejections = try store.takeRejections(device: DeviceID(sync.deviceID)).map { recorded in
                BatchRejected(
                    deviceID: recorded.device.rawValue, deviceSeq: recorded.sequence, reason: recorded.reason.wire,
                    currentState: WireBridge.wire(recorded.current), detail: recorded.detail)
            }
            return .freezeSyncReply(
                FreezeSyncReply(
                    deviceID: sync.deviceID, freezePoint: sync.freezePoint, missingSampleIDs: missing,
                    rejections: rejections))
        default:
            return nil
        }
    }
}

extension RejectReason {
    /// The wire's coarser reason: retriable reasons are never sent to a device (the worker leaves those
    /// batches for the outbox to re-send).
    var wire: BatchRejected.Reason {
        switch self {
        case .staleModel, .workerBehind, .noDeployment, .registryFailed: .staleModelVersion
        case .staleFreezePoint: .staleFreezePoint
        case .staleHyper: .staleHyperParameters
        case .invalid: .invalid
        }
    }

    init?(wire: BatchRejected.Reason) {
        switch wire {
        case .staleModelVersion: self = .staleModel
        case .staleFreezePoint: self = .staleFreezePoint
        case .staleHyperParameters: self = .staleHyper
        case .invalid: self = .invalid
        }
    }
}
