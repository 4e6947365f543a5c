import Logging
import ThawNN
import ThawWire

extension TrainerWorkerSession {
    /// Advances a batch stamped at a shallower freeze point of the same model through layers
    /// `[from, to)` and restamps it, so it is stored and trained like a batch sent at `to`.
    ///
    /// - Returns: nil (counted, logged, and returned to the device as `.invalid`) when the activations do
    ///   not have the model's shape at `from`; the model is never run on a shape it would trap on.
    mutating func advanceStale(
        _ batch: ThawWire.FeatureBatch, from: FreezePoint, to: FreezePoint, deployment: DeploymentState
    ) async -> ThawWire.FeatureBatch? {
        let model: Model
        do {
            model = try await baseModel(deployment.modelVersion)
        } catch {
            counters.failures += 1
            logger.warning("no base model to advance a stale batch; left for re-send", metadata: ["error": "\(error)"])
            return nil
        }
        let expected = model.architecture.activationShape(at: from.index)
        guard from.index < to.index, to.index < model.layerCount,
            Array(batch.activations.shape.dropFirst()) == expected
        else {
            counters.rejectedStale += 1
            logger.warning(
                "refused a stale batch whose activations do not fit the model",
                metadata: ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "shape": "\(batch.activations.shape)"])
            await returnRejection(batch, reason: .invalid, deployment: deployment)
            return nil
        }
        let output = model.advance(checkpoint: WireBridge.tensor(batch.activations), from: from.index, to: to.index)
        var advanced = batch
        advanced.freezePoint = UInt32(to.index)
        advanced.activations = WireBridge.wire(output)
        advanced.epoch = deployment.epoch
        counters.advancedStale += 1
        logger.info(
            "advanced a stale batch instead of rejecting it",
            metadata: [
                "batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "freeze.point": "\(from.index)->\(to.index)",
            ])
        return advanced
    }

    /// Sends a `BatchRejected` to the registry, which keeps it until the device's next freeze sync.
    /// Devices have no socket a worker could reach (phones are behind NAT); they already talk to the
    /// registry. A failure here is logged: the device's outbox re-sends the batch and it is refused again.
    mutating func returnRejection(_ batch: ThawWire.FeatureBatch, reason: RejectReason, deployment: DeploymentState)
        async
    {
        let rejection = BatchRejected(
            deviceID: batch.deviceID, deviceSeq: batch.deviceSeq, reason: reason.wire,
            currentState: WireBridge.wire(deployment),
            detail: "stamped k=\(batch.freezePoint) v\(batch.modelVersion); "
                + "current k=\(deployment.freezePoint.index) v\(deployment.modelVersion.number)")
        do {
            _ = try await registry.request(.batchRejected(rejection), stamper: &stamper) {
                if case .rejectionRecorded = $0 { true } else { false }
            }
            counters.rejectionsReturned += 1
        } catch {
            logger.warning(
                "rejection not recorded",
                metadata: ["batch.id": "\(batch.deviceID)#\(batch.deviceSeq)", "error": "\(error)"])
        }
    }

    /// The registry advanced `request.userID`'s stored rows to `request.state`: train a head on them.
    ///
    /// The state is the coordinator's, relayed by the registry: a newer one than the worker's means the
    /// worker has not processed the broadcast yet, so it adopts it (as it would from a heartbeat). A
    /// request for an older state is dropped (a newer move superseded it).
    mutating func handleRetrain(_ request: RetrainRequest) async {
        let state = WireBridge.deployment(request.state)
        if deployment.map({ state.epoch > $0.epoch }) ?? true { deployment = state }
        guard let deployment, FeatureStamps(state) == FeatureStamps(deployment) else {
            logger.notice(
                "dropped a retrain request for another deployment",
                metadata: ["user": "\(request.userID)", "freeze.point": "\(request.state.freezePoint)"])
            return
        }
        do {
            try await train(user: request.userID, deployment: deployment, seed: deployment.epoch, consumed: [])
            counters.retrains += 1
        } catch {
            counters.failures += 1
            logger.warning("retrain failed", metadata: ["user": "\(request.userID)", "error": "\(error)"])
        }
    }
}
