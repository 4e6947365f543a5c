import ThawNN

extension DeviceStateMachine {
    /// A deployment state arrived: from a model announce, a freeze-point change or a periodic heartbeat.
    ///
    /// One handler for all three is what makes a device that missed broadcasts (or joined late) converge:
    /// the next heartbeat carries the full state. States with an epoch not newer than the current one are
    /// ignored, so replays and reordering are harmless.
    public mutating func deploymentObserved(_ state: DeploymentState, now: Timestamp) -> [DeviceAction] {
        if let deployment, state.epoch <= deployment.epoch { return [] }
        let previous = deployment
        deployment = state
        var actions: [DeviceAction] = []
        let modelChanged = previous?.modelVersion != state.modelVersion || previous?.modelHash != state.modelHash
        if modelChanged { actions.append(.loadBackbone(modelVersion: state.modelVersion, modelHash: state.modelHash)) }

        // Eviction rules: an older model or other hyper-parameters make an activation worthless.
        var evicted = cache.evictOlderModels(than: state.modelVersion)
        evicted += cache.evictHyperParameterMismatch(current: state.hyperParameterHash)
        // Batches stamped differently will be rejected; stop retrying them, their entries are redone.
        for batch in outbox.outstanding where batch.stamp != ActivationStamp(state) { outbox.remove(batch.seq) }
        for entry in cache.allEntries where entry.stamp != ActivationStamp(state) {
            if case .inFlight = entry.upload { cache.setUpload(.pending, for: [entry.sampleId]) }
        }

        // Backbone outputs belong to one split of one model.
        predictions.invalidate(ifNot: state.freezePoint, modelVersion: state.modelVersion)
        if previous != nil, modelChanged || previous?.freezePoint != state.freezePoint {
            actions.append(.discardPredictions)
        }

        // A freeze-point move keeps the entries but they must be rebuilt from the nearest source.
        let plan = cache.planRebuild(to: state.freezePoint, modelVersion: state.modelVersion)
        if !plan.steps.isEmpty {
            actions.append(.rebuildActivations(plan))
        }

        // Everything still wanted is (re)computed under the new state: samples waiting for a pass, and
        // annotated samples whose activation is gone (evicted now, or earlier for space).
        for (id, label) in annotatedLabels where cache[id] == nil && pending[id] == nil {
            let arrivedAt = evicted.first(where: { $0.sampleId == id })?.createdAt ?? now
            pending[id] = PendingSample(annotated: true, label: label, arrivedAt: arrivedAt, wantsPrediction: false)
        }
        for id in pending.keys.sorted() { actions += computeRequest(id, state) }

        // The held head was trained for the old split or model: stop trusting it and ask for a new one.
        if let head, head.freezePoint != state.freezePoint || head.modelVersion != state.modelVersion {
            self.head = nil
        }
        if previous == nil || modelChanged || previous?.freezePoint != state.freezePoint
            || previous?.hyperParameterHash != state.hyperParameterHash
        {
            actions.append(.requestHead(haveHash: head?.hash))
            lastHeadRequest = now
        }
        return [.persistCache(snapshot)] + actions
    }

    /// The coordinator invalidated these samples (deleted or mislabelled): forget them everywhere.
    public mutating func invalidation(sampleIds: [UInt64]) -> [DeviceAction] {
        var changed = false
        for id in sampleIds {
            changed = (cache.remove(id) != nil) || changed
            changed = (annotatedLabels.removeValue(forKey: id) != nil) || changed
            pending.removeValue(forKey: id)
            predictions.remove(.sample(id))
        }
        return changed ? [.persistCache(snapshot)] : []
    }

    /// The registry refused batch `seq` and told us its current state.
    ///
    /// The batch leaves the outbox and its entries become pending again; `current` is then handled like
    /// any observed deployment, which evicts or rebuilds the stale entries so they are re-sent with new
    /// stamps. An `.invalid` batch's entries are recomputed from the raw input.
    public mutating func batchRejected(
        seq: UInt64, reason: BatchRejectionReason, current: DeploymentState, now: Timestamp
    ) -> [DeviceAction] {
        var actions: [DeviceAction] = []
        if let batch = outbox.remove(seq) {
            statistics.batchesRejected += 1
            for id in batch.sampleIds where cache[id]?.upload == .inFlight(seq: seq) {
                cache.setUpload(.pending, for: [id])
            }
            if reason == .invalid {
                for id in batch.sampleIds {
                    guard let entry = cache.remove(id) else { continue }
                    actions += schedule(
                        id,
                        PendingSample(
                            annotated: entry.annotated, label: entry.label, arrivedAt: entry.createdAt,
                            wantsPrediction: false))
                }
            }
        }
        return actions + deploymentObserved(current, now: now)
    }
}
