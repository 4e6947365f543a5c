import ThawDeviceProfile
import ThawNN

/// The simulated phone's logic as a pure state machine: each event is a `mutating` method that returns
/// the actions the glue must perform, in order. It reads no clock, touches no socket and runs no model.
///
/// Ownership: the device's node task owns the value; it is not shared. The glue carries out
/// ``DeviceAction``s and feeds results back as events (`backboneComputed`, `batchesDurable`, …).
///
/// Invariants:
/// - an activation is flushed, or used for a prediction, only when its stamps equal the current
///   deployment's; results computed under an older deployment are dropped and recomputed;
/// - flushed entries stay cached until acked, so a rejected batch is recomputed and re-sent with new
///   stamps;
/// - a head is swapped in only if it was trained for the current freeze point and model version and, with a
///   ``HeadSwapGate``, only if it beats the running head on the phone's validation share, which is never
///   uploaded;
/// - the snapshot (with the next sequence number) is persisted before any batch with a new sequence
///   number is sent.
public struct DeviceStateMachine: Sendable {
    struct PendingSample: Sendable {
        var annotated: Bool
        var label: Int
        var arrivedAt: Timestamp
        var wantsPrediction: Bool
    }

    /// Counters for the monitor and for tests.
    public struct Statistics: Sendable, Equatable {
        public var batchesSent = 0
        public var batchRetries = 0
        public var batchesRejected = 0
        public var staleResultsDropped = 0
        public var staleHeadsIgnored = 0
        public var headsSwapped = 0
        /// Heads the ``HeadSwapGate`` declined (not better on the validation share).
        public var headsRejected = 0
        /// Cached entries evicted because a new model version or new hyper-parameters made them stale.
        public var entriesEvicted = 0
        public var unannotatedRejectedForSpace = 0
        /// Rejections from a worker that had not yet seen this device's deployment (ignored).
        public var rejectionsFromBehind = 0
        /// Entries the registry already held after a shallower move, so they were not re-uploaded.
        public var uploadsSavedBySync = 0
        /// Heads that arrived as a delta against the running head, applied and verified.
        public var headDeltasApplied = 0
        /// Deltas refused (another base, corrupt, or a result that does not hash to `head_hash`); each
        /// is followed by a request for the full head.
        public var headDeltasRefused = 0
    }

    public let configuration: DeviceConfiguration
    public internal(set) var deployment: DeploymentState?
    public internal(set) var cache: ActivationCache
    public internal(set) var predictions: PredictionCache
    public internal(set) var battery: BatteryModel
    public internal(set) var ledger = EnergyLedger()
    /// The radio's promotion/tail state, for [Huang12]'s energy model.
    public internal(set) var radio: RadioMeter
    public internal(set) var outbox: Outbox
    public internal(set) var head: HeadInfo?
    /// The hash of the last head the gate declined; the next head request reports it to the registry.
    public internal(set) var declinedHeadHash: String?
    /// Set when a head delta was refused: the next head requests ask for the full head, until one is
    /// received.
    public internal(set) var fullHeadNeeded = false
    public internal(set) var statistics = Statistics()
    /// Labels of every annotated sample (the index of the device's sample store).
    public internal(set) var annotatedLabels: [UInt64: Int]
    var pending: [UInt64: PendingSample] = [:]
    var lastTick: Timestamp?
    var lastHeadRequest: Timestamp?
    /// After a shallower move: the stamps whose ``syncFreezeMove`` answer is awaited.
    public internal(set) var awaitingSync: ActivationStamp?

    /// - Parameter snapshot: what ``DeviceCacheStore`` loaded, or `nil` on a first start.
    public init(configuration: DeviceConfiguration, restoring snapshot: DeviceSnapshot? = nil) {
        self.configuration = configuration
        self.deployment = snapshot?.deployment
        self.cache = ActivationCache(capacityBytes: configuration.cacheCapacityBytes)
        self.predictions = PredictionCache(
            capacity: configuration.predictionCacheCapacity,
            modelVersion: snapshot?.deployment?.modelVersion ?? ModelVersion(0),
            freezePoint: snapshot?.deployment?.freezePoint ?? FreezePoint(0))
        self.battery = configuration.battery
        self.radio = RadioMeter(profile: configuration.profile.radio)
        self.outbox = Outbox(
            capacity: configuration.outboxCapacity, retry: configuration.retry,
            nextSequence: snapshot?.nextSequence ?? 1)
        self.annotatedLabels = snapshot?.annotatedLabels ?? [:]
        for entry in snapshot?.entries ?? [] { _ = cache.insert(entry) }
        // The outbox survives a restart: batches that were in flight go out again under their own
        // sequence numbers (the registry then recognises a batch it already stored).
        var inFlight: [UInt64: [CachedActivation]] = [:]
        for entry in cache.allEntries { if case .inFlight(let seq) = entry.upload { inFlight[seq, default: []].append(entry) } }
        for (seq, entries) in inFlight.sorted(by: { $0.key < $1.key }) {
            guard seq < outbox.nextSequence, let stamp = entries.first?.stamp, entries.allSatisfy({ $0.stamp == stamp })
            else {
                cache.setUpload(.pending, for: entries.map(\.sampleId))
                continue
            }
            outbox.restore(seq: seq, sampleIds: entries.map(\.sampleId).sorted(), stamp: stamp)
        }
    }

    /// The stamps an activation must carry to be current, or `nil` before any deployment was observed.
    public var currentStamp: ActivationStamp? { deployment.map(ActivationStamp.init) }

    /// What to persist now: annotated entries with their upload state (in-flight ones keep their batch's
    /// sequence, which is the persisted outbox), labels, deployment, sequence.
    public var snapshot: DeviceSnapshot {
        let entries = cache.allEntries.filter(\.annotated)
        return DeviceSnapshot(
            nextSequence: outbox.nextSequence, deployment: deployment, annotatedLabels: annotatedLabels,
            entries: entries)
    }

    // MARK: - Samples and predictions

    /// A new sample: annotated ones are kept for training, unannotated ones are predicted.
    public mutating func sampleArrived(sampleId: UInt64, annotated: Bool, label: Int, now: Timestamp) -> [DeviceAction]
    {
        if annotated { annotatedLabels[sampleId] = label }
        if !annotated { return predictionRequested(sampleId: sampleId, now: now) }
        if let entry = cache[sampleId], entry.stamp == currentStamp {
            // The same annotation seen again (a restarted app replays its stream) keeps its upload state:
            // resetting an in-flight or durable entry to pending would upload and train it twice.
            if entry.annotated && entry.label == label { return [] }
            var updated = entry
            updated.annotated = true
            updated.label = label
            updated.upload = .pending
            _ = cache.insert(updated)
            return []
        }
        return schedule(sampleId, PendingSample(annotated: true, label: label, arrivedAt: now, wantsPrediction: false))
    }

    /// The user wants a prediction for a stored sample: a prediction-cache hit runs only the head.
    public mutating func predictionRequested(sampleId: UInt64, now: Timestamp) -> [DeviceAction] {
        if let output = predictions.lookup(.sample(sampleId)) {
            return [.runHead(sampleId: sampleId, backboneOutput: output)]
        }
        if let entry = cache[sampleId], entry.stamp == currentStamp {
            predictions.insert(entry.activation, for: .sample(sampleId))
            return [.runHead(sampleId: sampleId, backboneOutput: entry.activation)]
        }
        if let entry = cache[sampleId], let deployment, entry.stamp.modelVersion == deployment.modelVersion,
            pending[sampleId] == nil,
            let step = cache.planRebuild(to: deployment.freezePoint, modelVersion: deployment.modelVersion, only: [sampleId])
                .steps.first, step.startLayer > 0
        {
            // A freeze move left this entry behind (rebuilt only if the registry needed it): run the few
            // layers from its nearest stored activation instead of the whole backbone.
            pending[sampleId] = PendingSample(
                annotated: entry.annotated, label: entry.label, arrivedAt: now, wantsPrediction: true)
            return rebuild(
                RebuildPlan(modelVersion: deployment.modelVersion, target: deployment.freezePoint, steps: [step]))
        }
        var sample =
            pending[sampleId]
            ?? PendingSample(
                annotated: annotatedLabels[sampleId] != nil, label: annotatedLabels[sampleId] ?? 0, arrivedAt: now,
                wantsPrediction: true)
        sample.wantsPrediction = true
        return schedule(sampleId, sample)
    }

    /// The glue finished a `computeBackbone` or one step of a `rebuildActivations` under the given stamps.
    public mutating func backboneComputed(
        sampleId: UInt64, activation: Activation, checkpoints: [Int: Activation], modelVersion: ModelVersion,
        freezePoint: FreezePoint
    ) -> [DeviceAction] {
        guard let stamp = currentStamp, stamp.modelVersion == modelVersion, stamp.freezePoint == freezePoint else {
            statistics.staleResultsDropped += 1
            return []
        }
        var actions: [DeviceAction] = []
        let request = pending.removeValue(forKey: sampleId)
        if request?.wantsPrediction == true {
            predictions.insert(activation, for: .sample(sampleId))
            actions.append(.runHead(sampleId: sampleId, backboneOutput: activation))
        }
        var entry: CachedActivation
        if var existing = cache[sampleId], existing.stamp.modelVersion == modelVersion {
            // Same model, other freeze point: a rebuild. The upload state was decided by the move (kept on
            // a deeper one, `.pending` only for samples the registry lacks after a shallower one).
            existing.activation = activation
            existing.checkpoints.merge(checkpoints) { _, new in new }
            existing.stamp = stamp
            if let label = annotatedLabels[sampleId] {
                existing.annotated = true
                existing.label = label
            }
            entry = existing
        } else {
            entry = CachedActivation(
                sampleId: sampleId, label: annotatedLabels[sampleId] ?? request?.label ?? 0,
                annotated: annotatedLabels[sampleId] != nil, activation: activation, stamp: stamp,
                createdAt: request?.arrivedAt ?? lastTick ?? .zero, checkpoints: checkpoints)
        }
        if case .rejected = cache.insert(entry) { statistics.unannotatedRejectedForSpace += 1 }
        return actions
    }

    // MARK: - Heads

    /// The registry sent a head. It is used only if trained for the current split and model and, with a
    /// ``HeadSwapGate``, only if `evidence` (both heads' outcomes and likelihoods on ``validationEntries``,
    /// computed by the glue) passes the gate's rule; a declined head is counted, remembered for the next head
    /// request, and not evaluated again.
    public mutating func headReceived(_ newHead: HeadInfo, evidence: HeadSwapGate.Evidence? = nil) -> [DeviceAction] {
        guard let deployment, newHead.freezePoint == deployment.freezePoint,
            newHead.modelVersion == deployment.modelVersion
        else {
            statistics.staleHeadsIgnored += 1
            return []
        }
        fullHeadNeeded = false
        guard newHead.hash != head?.hash, newHead.hash != declinedHeadHash else { return [] }
        if let gate = configuration.headSwapGate {
            let verdict = gate.decide(evidence ?? HeadSwapGate.Evidence(samples: 0, wins: 0, losses: 0))
            guard verdict.swaps else {
                statistics.headsRejected += 1
                declinedHeadHash = newHead.hash
                return []
            }
        }
        head = newHead
        statistics.headsSwapped += 1
        return [.swapHead(newHead)]
    }

    /// The registry announced that `hash` is the user's newest head for `modelVersion` at `freezePoint`:
    /// pull it now if it is for the current deployment and not the head in use (pull on change; the
    /// periodic pull in ``tick(now:)`` stays as the safety net for a missed announcement).
    public mutating func headAnnounced(
        hash: String, modelVersion: ModelVersion, freezePoint: FreezePoint, now: Timestamp
    ) -> [DeviceAction] {
        guard let deployment, deployment.modelVersion == modelVersion, deployment.freezePoint == freezePoint,
            hash != head?.hash
        else { return [] }
        lastHeadRequest = now
        return [.requestHead(haveHash: head?.hash)]
    }

    /// Whether the gate keeps this annotated sample on the phone for validation (never uploaded).
    public func isValidationSample(_ sampleId: UInt64) -> Bool {
        configuration.headSwapGate?.isValidation(sampleId: sampleId) ?? false
    }

    /// The validation share: annotated entries at the current stamps that the gate keeps on the phone,
    /// ascending by sample id. Empty without a gate.
    public var validationEntries: [CachedActivation] {
        guard configuration.headSwapGate != nil, let stamp = currentStamp else { return [] }
        return cache.allEntries.filter { $0.annotated && $0.stamp == stamp && isValidationSample($0.sampleId) }
            .sorted { $0.sampleId < $1.sampleId }
    }

    /// The registry has nothing newer than the head we hold.
    public mutating func headNotModified() -> [DeviceAction] { [] }

    // MARK: - Lifecycle

    /// The app is terminating: unannotated entries and predictions go; annotated entries are persisted.
    public mutating func terminate() -> [DeviceAction] {
        _ = cache.evictUnannotated()
        predictions.removeAll()
        pending.removeAll()
        return [.persistCache(snapshot)]
    }

    /// The charger was plugged in (`watts`) or removed (`nil`).
    public mutating func powerChanged(chargingWatts: Double?) { battery.chargingWatts = chargingWatts }

    // MARK: - Helpers shared by the extensions

    /// Records `sample` as waiting for a backbone pass and asks for one if a deployment is known.
    mutating func schedule(_ sampleId: UInt64, _ sample: PendingSample) -> [DeviceAction] {
        pending[sampleId] = sample
        guard let deployment else { return [] }
        return computeRequest(sampleId, deployment)
    }

    func checkpointLayers(below freezePoint: FreezePoint) -> [Int] {
        configuration.checkpointLayers.filter { $0 > 0 && $0 < freezePoint.index }
    }

    /// Checkpoints are asked for only where a freeze move may need them: annotated samples (a
    /// prediction-only output is recomputed from the raw input, never advanced).
    mutating func computeRequest(_ sampleId: UInt64, _ deployment: DeploymentState) -> [DeviceAction] {
        let annotated = pending[sampleId]?.annotated == true || annotatedLabels[sampleId] != nil
        return [
            .computeBackbone(
                sampleId: sampleId, modelVersion: deployment.modelVersion, upTo: deployment.freezePoint,
                checkpointsAt: annotated ? checkpointLayers(below: deployment.freezePoint) : [])
        ]
    }

    /// Drains the battery and books what was actually drained.
    mutating func spend(_ joules: Double, seconds: Double = 0, as category: EnergyLedger.Category) {
        guard joules > 0 || seconds > 0 else { return }
        ledger.record(battery.drain(joules), seconds: seconds, as: category)
    }

    // MARK: - Work done by the glue, priced by the profile

    /// The glue executed `flops` on this phone's CPU (a backbone pass, a head prediction, local training).
    public mutating func computed(flops: FLOPCount) {
        guard flops.total > 0 else { return }
        let compute = configuration.profile.compute
        ledger.count(flops: flops)
        spend(compute.joules(flops: flops.total), seconds: compute.seconds(flops: flops.total), as: .compute)
    }

    /// The glue moved `bytesUp` and `bytesDown` over the radio at `now` (the encoded frames, envelope included).
    public mutating func transferred(bytesUp: Int, bytesDown: Int, now: Timestamp) {
        guard bytesUp > 0 || bytesDown > 0 else { return }
        ledger.count(bytesUp: bytesUp, bytesDown: bytesDown)
        let (charge, _) = radio.transfer(bytesUp: bytesUp, bytesDown: bytesDown, at: now.secondsSinceZero)
        book(charge)
    }

    mutating func book(_ charge: RadioMeter.Charge) {
        spend(charge.tailJoules, seconds: charge.tailSeconds, as: .radioTail)
        spend(charge.transferJoules, seconds: charge.transferSeconds, as: .radioTransfer)
    }
}
