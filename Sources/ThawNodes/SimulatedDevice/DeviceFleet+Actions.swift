import CoreMetrics
import Foundation
import Logging
import ThawData
import ThawNN
import ThawWire
import ThawZMQ

extension DeviceFleet {
    /// Carries out a phone's actions; results that are themselves events (a rebuilt activation)
    /// are fed back to the same phone until no action is left.
    ///
    /// Nothing here waits for a peer: a backbone pass joins the fleet's batch (``runBackboneBatch()``
    /// computes it for many phones at once) and a registry request goes out and is answered later as
    /// an event (``replyArrived(_:)``), so no phone's round trip holds up another phone.
    mutating func perform(_ initial: [DeviceAction], phone index: Int) async throws {
        guard !initial.isEmpty else { return }
        phones[index].dirty = true
        var queue = initial[...]
        while let action = queue.popFirst() {
            switch action {
            case .loadBackbone(let version, _):
                try await ensureModelIfNeeded(version)
            case .computeBackbone(let sampleId, let version, let freezePoint, let checkpointsAt):
                backboneQueue.append(
                    BackboneRequest(
                        phone: index, sampleId: sampleId, modelVersion: version, freezePoint: freezePoint,
                        checkpointsAt: checkpointsAt))
            case .rebuildActivations(let plan):
                guard model != nil, modelVersion == plan.modelVersion else { continue }
                if plan.steps.count > 1 || plan.steps.first.map({ phones[index].machine.cache[$0.sampleId]?.annotated == true }) == true {
                    let raw = plan.steps.filter { $0.startLayer == 0 }.count
                    StdoutLine.write(
                        CacheRebuiltLine(
                            device: phones[index].device.rawValue, freezePoint: plan.target.index,
                            fromActivation: plan.steps.count - raw, fromRaw: raw, layerRuns: plan.layerRuns))
                }
                startRebuild(plan, phone: index)
            case .runHead(_, let output):
                predict(output, phone: index)
            case .discardPredictions, .swapHead:
                break
            case .sendBatch(let batch):
                // A batch goes out only once the snapshot with its sequence number is durable.
                if pendingWrites[index] != nil || committing?.phones.contains(index) == true {
                    heldSends.append((index, batch))
                } else {
                    try await send(batch, phone: index)
                }
            case .requestHead(let haveHash):
                try await requestHead(phone: index, haveHash: haveHash)
            case .persistCache(let snapshot):
                pendingWrites[index] = snapshot
            case .syncFreezeMove(let stamp, let sampleIds):
                queue += try await requestFreezeSync(phone: index, stamp: stamp, sampleIds: sampleIds)
            }
        }
    }

    private mutating func ensureModelIfNeeded(_ version: ModelVersion) async throws {
        guard modelVersion != version else { return }
        // Fetching happens on the next broadcast; the device keeps serving with what it has.
        logger.info("base model change requested", metadata: ["model.version": "\(version)"])
    }

    static func activation(_ tensor: Tensor) -> Activation {
        Activation(shape: tensor.sampleShape, scalars: tensor.scalars)
    }

    /// One test image as a [1, 1, rows, columns] tensor in [0, 1].
    func image(_ sample: Int) -> Tensor {
        let samples = dataset.test
        return Tensor(shape: [1, 1, samples.rows, samples.columns], scalars: samples.floatPixels([sample]))
    }

    private mutating func predict(_ output: Activation, phone index: Int) {
        guard let model, let deployment else { return }
        phones[index].predictions += 1
        let before = model.executedFLOPs
        withHead(of: index, model: model, freezePoint: deployment.freezePoint) {
            _ = model.predict(Tensor(shape: [1] + output.shape, scalars: output.scalars), from: deployment.freezePoint)
        }
        phones[index].machine.computed(flops: model.executedFLOPs - before)
    }

    /// Runs `body` with the phone's head swapped into the shared model, then puts the base head back.
    func withHead(of index: Int, model: Model, freezePoint: FreezePoint, _ body: () -> Void) {
        guard let head = phones[index].headParameters,
            head.count == model.parameterRange(layers: freezePoint.index..<model.layerCount).count
        else {
            body()
            return
        }
        let base = model.headParameters(from: freezePoint)
        model.setHeadParameters(head, from: freezePoint)
        body()
        model.setHeadParameters(base, from: freezePoint)
    }

    mutating func send(_ batch: DeviceBatch, phone index: Int) async throws {
        let phone = phones[index]
        let rowShape = batch.entries.first?.activation.shape ?? []
        var scalars: [Float] = []
        scalars.reserveCapacity(batch.entries.count * rowShape.reduce(1, *))
        for entry in batch.entries { scalars += entry.activation.scalars }
        let message = ThawMessage.featureBatch(
            ThawWire.FeatureBatch(
                userID: phone.user.rawValue, deviceID: phone.device.rawValue, deviceSeq: batch.seq,
                modelVersion: batch.stamp.modelVersion.number, modelHash: deployment?.modelHash ?? "",
                freezePoint: UInt32(batch.stamp.freezePoint.index), hyperHash: batch.stamp.hyperParameterHash,
                sampleIDs: batch.entries.map(\.sampleId), labels: batch.entries.map { UInt32($0.label) },
                createdAtMs: WallClock.nowMs(),
                activations: WireTensor(shape: [batch.entries.count] + rowShape, scalars: scalars),
                epoch: deployment?.epoch ?? 0))
        let frames = try stamper.encode(message)
        let bytes = frames.reduce(0) { $0 + $1.count }
        phones[index].bytesSent += bytes
        phones[index].machine.transferred(bytesUp: bytes, bytesDown: 0, now: WallClock.now())
        StdoutLine.write(
            BatchSentLine(
                device: phone.device.rawValue, seq: batch.seq, freezePoint: batch.stamp.freezePoint.index,
                samples: batch.entries.count, bytes: bytes, attempt: batch.attempt,
                sampleIds: batch.entries.map(\.sampleId)))
        try await loop.send(frames, on: push)
    }

    /// Asks the registry for the user's head with the hash in use (one pull per phone in flight); the
    /// reply comes back through ``headReplyArrived(_:phone:request:)``.
    private mutating func requestHead(phone index: Int, haveHash: String?) async throws {
        guard let deployment, !pulling.contains(index) else { return }
        // While the registry is unreachable, phones do not each wait out a request timeout: the whole
        // fleet backs off (doubling up to 30 s) and the next due pull after that probes again.
        if let retryAt = registryRetryAt, ContinuousClock.now < retryAt { return }
        // Bounded: a pull that finds the window full is skipped; the phone asks again at its next pull.
        guard inFlight.count < Self.maximumInFlight else { return }
        let phone = phones[index]
        let request = HeadRequest(
            userID: phone.user.rawValue, deviceID: phone.device.rawValue, haveHash: haveHash ?? "",
            modelVersion: deployment.modelVersion.number, freezePoint: UInt32(deployment.freezePoint.index),
            declinedHash: phone.machine.declinedHeadHash ?? "")
        pulling.insert(index)
        try await issue(.headRequest(request), for: index, purpose: .head(request))
    }

    /// The registry answered a head pull: learn which batches are durable, swap in a new head.
    mutating func headReplyArrived(_ reply: HeadReply, phone index: Int, request: HeadRequest) async throws
        -> [DeviceAction]
    {
        guard let deployment else { return [] }
        let phone = phones[index]
        registryBackoff = nil
        registryRetryAt = nil
        phones[index].headPulls += 1
        counters.headPulls.increment()
        // The request and its reply, as sized on the wire (the reply's tensor dominates).
        let requestBytes = (try? ThawMessage.headRequest(request).encodedByteCount) ?? 0
        let replyBytes = (try? ThawMessage.headReply(reply).encodedByteCount) ?? 0
        phones[index].machine.transferred(bytesUp: requestBytes, bytesDown: replyBytes, now: WallClock.now())
        var actions = phones[index].machine.batchesDurable(seqs: reply.durableSeqs)
        if phones[index].machine.outbox.count > 0, let stamp = phones[index].machine.currentStamp {
            // Batches still outstanding may have been refused by a worker: collect the rejections.
            actions += try await requestFreezeSync(phone: index, stamp: stamp, sampleIds: [], collectOnly: true)
        }
        let outstanding = phones[index].machine.outbox.count > 0 || !phones[index].machine.pendingUploads.isEmpty
        phones[index].settledPulls = outstanding ? 0 : phones[index].settledPulls + 1
        guard reply.status == .head, let parameters = reply.headParameters else {
            return actions + phones[index].machine.headNotModified()
        }
        // A head of the current model and freeze point is swapped into the model: its size must fit, or
        // ThawNN's precondition would stop the whole fleet, and its parameters must hash to the SHA-256 the
        // registry vouched for, so a corrupted or mislabelled head never replaces a working one.
        if let model, reply.freezePoint == UInt32(deployment.freezePoint.index),
            reply.modelVersion == deployment.modelVersion.number
        {
            do {
                try ModelContract(model.architecture).checkHead(
                    parameters: parameters.scalars, claimedHash: reply.headHash, freezePoint: reply.freezePoint,
                    what: "head v\(reply.headVersion) of \(phone.user)")
            } catch {
                refusals.refuse(on: "dealer", error)
                return actions + phones[index].machine.headNotModified()
            }
        }
        phones[index].bytesReceived += parameters.scalars.count * 4
        let info = HeadInfo(
            version: reply.headVersion, hash: reply.headHash, freezePoint: FreezePoint(Int(reply.freezePoint)),
            modelVersion: ModelVersion(reply.modelVersion), byteCount: parameters.scalars.count * 4)
        let rejectedBefore = phones[index].machine.statistics.headsRejected
        let decided = phones[index].machine.headReceived(info, evidence: gateEvidence(phone: index, candidate: parameters.scalars))
        if phones[index].machine.statistics.headsRejected > rejectedBefore {
            StdoutLine.write(
                HeadDeclinedLine(
                    device: phone.device.rawValue, user: phone.user.rawValue, headVersion: reply.headVersion,
                    headHash: reply.headHash, validationSamples: phones[index].machine.validationEntries.count))
        }
        if decided.contains(.swapHead(info)) {
            phones[index].headParameters = sharedHead(hash: reply.headHash, parameters.scalars)
            // The line is printed once the new head's held-out accuracy is known (compute queue).
            requestEvaluation(
                phone: index,
                purpose: .swap(
                    HeadSwapLine(
                        device: phone.device.rawValue, user: phone.user.rawValue, headVersion: reply.headVersion,
                        modelVersion: reply.modelVersion, freezePoint: Int(reply.freezePoint),
                        accuracyBefore: phones[index].baseAccuracy ?? 0, accuracy: phones[index].accuracy ?? 0)))
        }
        actions += decided
        return actions
    }

    /// The parameters of head `hash`, one copy for every phone that swapped it in: a head is the same
    /// for all phones of a user (its hash is the SHA-256 of its parameters, checked before the swap), and
    /// at freeze point 7 of the FedAvg CNN it is 6.4 MB, so 10,000 phones cannot each keep their own.
    mutating func sharedHead(hash: String, _ parameters: [Float]) -> [Float] {
        if let known = heads[hash], known.count == parameters.count { return known }
        if heads.count >= 2 * phonesByUser.count + 8 {
            // Heads no phone's machine runs any more are forgotten (a phone still holding one keeps it).
            let inUse = Set(phones.compactMap { $0.machine.head?.hash })
            heads = heads.filter { inUse.contains($0.key) }
        }
        heads[hash] = parameters
        return parameters
    }

    /// Most users whose held-out backbone outputs are kept.
    static let evaluationCacheUsers = 64

    /// Both heads' outcomes on the phone's validation share, for the ``HeadSwapGate`` (nil without a gate).
    func gateEvidence(phone index: Int, candidate: [Float]) -> HeadSwapGate.Evidence? {
        guard phones[index].machine.configuration.headSwapGate != nil, let model, let deployment else { return nil }
        let entries = phones[index].machine.validationEntries
        guard let shape = entries.first?.activation.shape,
            candidate.count == model.parameterRange(layers: deployment.freezePoint.index..<model.layerCount).count
        else { return HeadSwapGate.Evidence(samples: 0, wins: 0, losses: 0) }
        let inputs = Tensor(shape: [entries.count] + shape, scalars: entries.flatMap(\.activation.scalars))
        var current: [Int] = []
        withHead(of: index, model: model, freezePoint: deployment.freezePoint) {
            current = model.predict(inputs, from: deployment.freezePoint)
        }
        let base = model.headParameters(from: deployment.freezePoint)
        model.setHeadParameters(candidate, from: deployment.freezePoint)
        let proposed = model.predict(inputs, from: deployment.freezePoint)
        model.setHeadParameters(base, from: deployment.freezePoint)
        return HeadSwapGate.Evidence(labels: entries.map(\.label), current: current, candidate: proposed)
    }

    /// Asks for the held-out accuracy of the phone's current head (the base head when it has none yet);
    /// the answer comes back as ``evaluated(_:)``, which sets it and, for a swap, prints the line.
    ///
    /// Phones of one user with the same head have the same accuracy: it is computed once per (user, head,
    /// deployment), and a request for one already being computed waits for that one. The backbone pass
    /// over the user's evaluation set runs on the compute queue, never on the fleet's task.
    mutating func requestEvaluation(phone index: Int, purpose: EvaluationPurpose) {
        guard let deployment, backbone != nil, !phones[index].evaluation.isEmpty else {
            // Nothing to measure with: a swap is still reported (accuracy unknown, as 0).
            if case .swap(var line) = purpose {
                phones[index].accuracy = nil
                line.accuracy = 0
                StdoutLine.write(line)
            }
            return
        }
        let stamp = ActivationStamp(deployment)
        if accuracyStamp != stamp {
            accuracyStamp = stamp
            accuracyCache.removeAll()
        }
        let user = phones[index].user
        let head = phones[index].machine.head?.hash ?? (phones[index].headParameters == nil ? "base" : "held-\(index)")
        let key = EvaluationKey(user: user, head: head, stamp: stamp)
        if key.shared, let known = accuracyCache["\(user.rawValue)|\(head)"] {
            evaluationFinished(phone: index, purpose: purpose, accuracy: known)
            return
        }
        phones[index].evaluationsPending += 1
        if evaluating[key] != nil {
            evaluating[key]?.append((index, purpose))
            return
        }
        evaluating[key] = [(index, purpose)]
        startEvaluation(EvaluationJob(key: key, samples: phones[index].evaluation, head: phones[index].headParameters))
    }

    private func startEvaluation(_ job: EvaluationJob) {
        guard let backbone else { return }
        let (inbox, inputs, dataset) = (self.inbox, evaluationInputs, self.dataset)
        compute.submit {
            inbox.put(.evaluated(job.run(model: backbone.model, inputs: inputs, dataset: dataset)))
        }
    }

    /// An evaluation finished: every phone that waited for it gets its accuracy.
    mutating func evaluated(_ result: EvaluationResult) {
        let waiting = evaluating.removeValue(forKey: result.key) ?? []
        if result.key.shared, result.key.stamp == accuracyStamp {
            accuracyCache["\(result.key.user.rawValue)|\(result.key.head)"] = result.accuracy
        }
        for (index, purpose) in waiting {
            phones[index].evaluationsPending -= 1
            evaluationFinished(phone: index, purpose: purpose, accuracy: result.accuracy)
        }
    }

    private mutating func evaluationFinished(phone index: Int, purpose: EvaluationPurpose, accuracy: Double) {
        switch purpose {
        case .base:
            phones[index].baseAccuracy = accuracy
            if phones[index].accuracy == nil { phones[index].accuracy = accuracy }
        case .swap(var line):
            phones[index].accuracy = accuracy
            line.accuracyBefore = phones[index].baseAccuracy ?? 0
            line.accuracy = accuracy
            StdoutLine.write(line)
        }
    }

    /// A rebuild after a freeze move: the phone's steps run on the compute queue with the fleet's model
    /// copy, and come back as ``rebuilt(_:)``.
    mutating func startRebuild(_ plan: RebuildPlan, phone index: Int) {
        guard let backbone, backbone.version == plan.modelVersion, !stopping else { return }
        let (inbox, dataset) = (self.inbox, self.dataset)
        phones[index].rebuildsPending += 1
        compute.submit {
            inbox.put(.rebuilt(plan.run(phone: index, model: backbone.model, dataset: dataset)))
        }
    }

    /// A rebuild finished: the phone is charged each step's FLOPs and its machine takes the results
    /// (it drops those whose stamps are no longer current).
    mutating func rebuilt(_ result: RebuildResult) async throws {
        let index = result.phone
        phones[index].rebuildsPending -= 1
        guard !stopping else { return }
        catchUp(index)
        var actions: [DeviceAction] = []
        for (row, step) in result.plan.steps.enumerated() where row < result.outputs.count {
            phones[index].machine.computed(flops: result.flops[row])
            actions += phones[index].machine.backboneComputed(
                sampleId: step.sampleId, activation: result.outputs[row], checkpoints: [:],
                modelVersion: result.plan.modelVersion, freezePoint: result.plan.target)
        }
        try await perform(actions, phone: index)
    }
}

/// Why a phone asked for its held-out accuracy.
enum EvaluationPurpose {
    /// Its first: the accuracy before any head was swapped in.
    case base
    /// A head was swapped in: the line is printed once its accuracy is known.
    case swap(HeadSwapLine)
}

/// A progress line on stdout each time a phone swaps in a new head.
package struct HeadSwapLine: Codable, Sendable {
    package var event = "head-swapped"
    package var device: String
    package var user: String
    package var headVersion: UInt64
    var modelVersion: UInt64
    var freezePoint: Int
    package var accuracyBefore: Double
    package var accuracy: Double
}

/// A progress line on stdout each time a phone's ``HeadSwapGate`` declines a pulled head.
package struct HeadDeclinedLine: Codable, Sendable {
    package var event = "head-declined"
    package var device: String
    package var user: String
    package var headVersion: UInt64
    package var headHash: String
    var validationSamples: Int
}
