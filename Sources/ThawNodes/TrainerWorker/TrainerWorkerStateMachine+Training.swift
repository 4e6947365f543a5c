import ThawNN

extension TrainerWorkerStateMachine {
    mutating func headFetched(_ user: UserID, _ head: HeadRecord?) -> [TrainerWorkerAction] {
        guard var state = users[user], state.phase == .fetchingHead, let deployment else {
            metrics.ignoredEvents += 1
            return []
        }
        let stamps = FeatureStamps(deployment)
        state.phase = .fetchingFeatures(parent: head, stamps: stamps)
        users[user] = state
        return [.fetchFeatures(user, stamps: stamps, limit: configuration.featureLimit)]
    }

    mutating func featuresFetched(_ user: UserID, _ features: [StoredFeature]) -> [TrainerWorkerAction] {
        guard var state = users[user], case .fetchingFeatures(let parent, let stamps) = state.phase else {
            metrics.ignoredEvents += 1
            return []
        }
        guard deploymentStamps == stamps else {
            metrics.trainingsDiscarded += 1
            return restart(user, &state)
        }
        let parentMatches = parent?.stamps == stamps
        // Features under fixed stamps only grow, so a head that saw as many rows has seen them all.
        if features.isEmpty || (parentMatches && (parent?.samples ?? 0) >= features.count) {
            metrics.trainingsSkipped += 1
            return finishRun(user, &state)
        }
        let job = TrainingJob(
            user: user, parentVersion: parent?.version ?? 0, stamps: stamps,
            initialParameters: parentMatches ? parent?.parameters : nil, features: features,
            attempt: state.conflictAttempts)
        state.phase = .training(parentVersion: job.parentVersion, stamps: stamps, samples: features.count)
        users[user] = state
        metrics.trainingsStarted += 1
        return [.train(job)]
    }

    mutating func trained(_ user: UserID, _ parameters: [Float], _ hash: String, _ loss: Float) -> [TrainerWorkerAction] {
        guard var state = users[user], case .training(let parentVersion, let stamps, let samples) = state.phase
        else {
            metrics.ignoredEvents += 1
            return []
        }
        guard deploymentStamps == stamps else {
            metrics.trainingsDiscarded += 1
            return restart(user, &state)
        }
        let commit = HeadCommit(
            user: user, parentVersion: parentVersion, stamps: stamps, parameters: parameters, hash: hash, loss: loss,
            samples: samples)
        guard (try? commit.validate()) != nil else {
            // NaN or empty output: as good as a failed training.
            return failed(.train(user))
        }
        state.phase = .committing(stamps: stamps, loss: loss)
        users[user] = state
        return [.commit(commit)]
    }

    mutating func commitAcked(_ user: UserID, _ version: UInt64) -> [TrainerWorkerAction] {
        guard var state = users[user], case .committing(_, let loss) = state.phase else {
            metrics.ignoredEvents += 1
            return []
        }
        metrics.commits += 1
        metrics.lastLoss = loss
        return finishRun(user, &state)
    }

    mutating func commitConflict(_ user: UserID, _ current: UInt64) -> [TrainerWorkerAction] {
        guard var state = users[user], case .committing = state.phase else {
            metrics.ignoredEvents += 1
            return []
        }
        metrics.conflicts += 1
        state.conflictAttempts += 1
        guard state.conflictAttempts <= configuration.maxConflictRetries else {
            metrics.gaveUp += 1
            state.phase = .idle
            state.dirty = false
            users[user] = state
            return [.gaveUp(user, after: .commit(user))]
        }
        state.phase = .fetchingHead
        users[user] = state
        return [.retrainOnLatest(user, latestVersion: current, attempt: state.conflictAttempts)]
    }

    mutating func failed(_ request: TrainerWorkerRequest) -> [TrainerWorkerAction] {
        metrics.requestFailures += 1
        let user: UserID
        switch request {
        case .store(let device, let sequence):
            guard let batch = pendingStores.removeValue(forKey: BatchKey(device: device, sequence: sequence)) else {
                metrics.ignoredEvents += 1
                return []
            }
            metrics.rejected[.registryFailed, default: 0] += 1
            return [.reject(batch, reason: .registryFailed, current: deployment)]
        case .fetchHead(let who), .fetchFeatures(let who), .train(let who), .commit(let who):
            user = who
        }
        guard var state = users[user], state.phase != .idle else {
            metrics.ignoredEvents += 1
            return []
        }
        state.failures += 1
        guard state.failures <= configuration.maxRequestRetries else {
            metrics.gaveUp += 1
            state.phase = .idle
            state.dirty = false
            users[user] = state
            return [.gaveUp(user, after: request)]
        }
        // Start the run over: after a timed-out commit the head may in fact be committed, and a fresh
        // head fetch is the only way to know.
        return restart(user, &state)
    }

    // MARK: - Helpers

    private var deploymentStamps: FeatureStamps? { deployment.map(FeatureStamps.init) }

    private mutating func restart(_ user: UserID, _ state: inout UserState) -> [TrainerWorkerAction] {
        state.phase = .fetchingHead
        users[user] = state
        return [.fetchHead(user)]
    }

    /// Ends a run; starts the next one at once if batches arrived meanwhile.
    private mutating func finishRun(_ user: UserID, _ state: inout UserState) -> [TrainerWorkerAction] {
        state.phase = .idle
        state.conflictAttempts = 0
        state.failures = 0
        let again = state.dirty
        state.dirty = false
        users[user] = state
        guard again else { return [] }
        state.phase = .fetchingHead
        users[user] = state
        return [.fetchHead(user)]
    }
}
