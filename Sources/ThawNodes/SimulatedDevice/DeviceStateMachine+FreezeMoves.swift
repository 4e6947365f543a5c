import ThawNN

/// How a new deployment relates to the previous one, for the cache (docs/FREEZE-MOVES.md).
enum FreezeMove: Equatable {
    /// Same model and hyper-parameters, larger freeze point: activations advance forward.
    case deeper
    /// Same model and hyper-parameters, smaller freeze point: activations must be recomputed.
    case shallower
    /// Anything else (first state, new model, new hyper-parameters, nothing changed).
    case other

    init(from previous: DeploymentState?, to state: DeploymentState) {
        guard let previous, previous.modelVersion == state.modelVersion, previous.modelHash == state.modelHash,
            previous.hyperParameterHash == state.hyperParameterHash
        else {
            self = .other
            return
        }
        if state.freezePoint > previous.freezePoint {
            self = .deeper
        } else if state.freezePoint < previous.freezePoint {
            self = .shallower
        } else {
            self = .other
        }
    }
}

extension DeviceStateMachine {
    /// The registry's answer to ``DeviceAction/syncFreezeMove(stamp:sampleIds:)``: of the asked samples,
    /// `missing` have no row under `stamp` in the cloud.
    ///
    /// Missing samples are rebuilt from their nearest checkpoint at or before the new point (or the raw
    /// input) and become `.pending`, so the next flush uploads exactly them. The others are marked
    /// durable and left as they are: the cloud already trains on them, and a prediction that needs one
    /// rebuilds it then (``predictionRequested(sampleId:now:)``). An answer for stamps that are no longer
    /// current is ignored; the newer move asked again.
    public mutating func freezeSyncReceived(stamp: ActivationStamp, missing: [UInt64]) -> [DeviceAction] {
        guard let awaited = awaitingSync, awaited == stamp, currentStamp == stamp else { return [] }
        awaitingSync = nil
        let missingSet = Set(missing)
        var rebuildIds: [UInt64] = []
        for entry in cache.allEntries where entry.annotated {
            if missingSet.contains(entry.sampleId) {
                cache.setUpload(.pending, for: [entry.sampleId])
                if entry.stamp != stamp { rebuildIds.append(entry.sampleId) }
            } else if entry.stamp != stamp {
                statistics.uploadsSavedBySync += 1
                cache.setUpload(.durable(seq: durableSequence(of: entry)), for: [entry.sampleId])
            }
        }
        let plan = cache.planRebuild(to: stamp.freezePoint, modelVersion: stamp.modelVersion, only: Set(rebuildIds))
        return [.persistCache(snapshot)] + rebuild(plan)
    }

    /// Emits a rebuild; the glue books the FLOPs it executes (``computed(flops:)``).
    mutating func rebuild(_ plan: RebuildPlan) -> [DeviceAction] {
        guard !plan.steps.isEmpty else { return [] }
        return [.rebuildActivations(plan)]
    }

    private func durableSequence(of entry: CachedActivation) -> UInt64 {
        switch entry.upload {
        case .durable(let seq), .inFlight(let seq): seq
        case .pending: 0
        }
    }
}

extension ActivationCache {
    /// ``planRebuild(to:modelVersion:)`` restricted to the entries in `only`.
    public func planRebuild(to target: FreezePoint, modelVersion: ModelVersion, only: Set<UInt64>) -> RebuildPlan {
        var plan = planRebuild(to: target, modelVersion: modelVersion)
        plan.steps.removeAll { !only.contains($0.sampleId) }
        return plan
    }
}
