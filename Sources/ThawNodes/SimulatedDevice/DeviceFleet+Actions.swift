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
                if pendingWrites.index(forKey: index) != nil || committing?.phones.contains(index) == true {
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

    /// A head prediction on a backbone output. Its output is never used (a simulated phone shows
    /// nothing), so it is not run: the phone is charged exactly the FLOPs the model would record for
    /// one sample through its head layers. (Running it on the compute queue, batched per head, kept a
    /// 6.4 MB head copy per group and an unbounded backlog there: 5.5 GiB at 1,000 phones after 90 s.)
    private mutating func predict(_ output: Activation, phone index: Int) {
        guard let model, let deployment else { return }
        phones[index].predictions += 1
        let head = deployment.freezePoint.index..<model.layerCount
        phones[index].machine.computed(
            flops: FLOPCount(forward: model.architecture.forwardFLOPs(layers: head, samples: 1), backward: 0, optimizer: 0))
    }

    /// Sends a batch to its user's worker. Only the envelope number and the worker are chosen here: the
    /// batch is assembled, encoded (about 800 KB at freeze point 7, 5-30 ms on a loaded machine) and put
    /// on the socket on the fleet's send queue, so a broadcast never waits for it; the bytes it took are
    /// charged to the phone's radio when the queue reports back (``sent(phone:bytes:)``).
    mutating func send(_ batch: DeviceBatch, phone index: Int) async throws {
        let phone = phones[index]
        let metadata = stamper.next()
        let (modelHash, epoch) = (deployment?.modelHash ?? "", deployment?.epoch ?? 0)
        // The user's worker first; each re-send moves one worker down the user's order, so the batches of
        // a worker that died (or dropped them) reach another one after one retry delay.
        let push = pushes.isEmpty ? nil : pushes[affinity.worker(for: phone.user.rawValue, misses: batch.attempt - 1)]
        let (loop, inbox, waiting, gate) = (self.loop, self.inbox, waitingSends, sendGate)
        let (user, device) = (phone.user.rawValue, phone.device.rawValue)
        let noiseKey = uploadNoiseKey
        sender.submit {
            // While the socket loop is dropping batches at full worker pipes, a batch is dropped before it
            // is encoded, the same outcome (it stays in the outbox for its re-send) without the work.
            if let push, !gate.open(push.index, dropped: loop.droppedMessages) { return }
            let rowShape = batch.entries.first?.activation.shape ?? []
            var scalars: [Float] = []
            scalars.reserveCapacity(batch.entries.count * rowShape.reduce(1, *))
            for entry in batch.entries { entry.activation.append(to: &scalars) }
            // Noise goes on the copy that leaves the phone; the cached activation stays clean for the
            // phone's own predictions and its head-swap gate (docs/PRIVACY.md).
            let rule = UploadRule(stamp: batch.stamp.hyperParameterHash)
            if let noise = rule?.noise, !scalars.isEmpty {
                noise.apply(to: &scalars, valuesPerRow: scalars.count / batch.entries.count) { row in
                    noiseKey.generator(
                        device: device, sampleId: batch.entries[row].sampleId,
                        freezePoint: batch.stamp.freezePoint.index, stamp: batch.stamp.hyperParameterHash)
                }
            }
            let message = ThawMessage.featureBatch(
                ThawWire.FeatureBatch(
                    userID: user, deviceID: device, deviceSeq: batch.seq,
                    modelVersion: batch.stamp.modelVersion.number, modelHash: modelHash,
                    freezePoint: UInt32(batch.stamp.freezePoint.index), hyperHash: batch.stamp.hyperParameterHash,
                    sampleIDs: batch.entries.map(\.sampleId), labels: batch.entries.map { UInt32($0.label) },
                    createdAtMs: WallClock.nowMs(),
                    activations: WireTensor(shape: [batch.entries.count] + rowShape, scalars: scalars),
                    epoch: epoch,
                    activationEncoding: rule?.encoding ?? .float32))
            guard let frames = try? WireBridge.frames(WireCodec.encode(message, metadata: metadata)) else { return }
            let bytes = frames.reduce(0) { $0 + $1.count }
            if let push, (try? loop.trySend(frames, on: push)) != true {
                // Never wait for room in the socket loop's mailbox: when it is full the batch waits on a
                // task of its own (batches have no order between them; the registry dedups by seq), at
                // most `maximumWaitingSends` of them; past that it is dropped like a send to a full PUSH
                // pipe: it stays in the phone's outbox and is re-sent with back-off.
                guard waiting.withLock({ count -> Bool in
                    guard count < Self.maximumWaitingSends else { return false }
                    count += 1
                    return true
                }) else { return }
                Task {
                    try? await loop.send(frames, on: push)
                    waiting.withLock { $0 -= 1 }
                }
            }
            // Handed to the socket: the line, and the bytes on the phone's radio.
            if let push { gate.handed(to: push.index) }
            StdoutLine.write(
                BatchSentLine(
                    device: device, seq: batch.seq, freezePoint: batch.stamp.freezePoint.index,
                    samples: batch.entries.count, bytes: bytes, attempt: batch.attempt,
                    sampleIds: batch.entries.map(\.sampleId)))
            inbox.put(.sent(phone: index, bytes: bytes))
        }
    }

    /// A batch went out on the send queue: its bytes are the phone's, on its radio.
    mutating func sent(phone index: Int, bytes: Int) {
        phones[index].bytesSent += bytes
        phones[index].machine.transferred(bytesUp: bytes, bytesDown: 0, now: WallClock.now())
    }

    /// Most batches waiting for room in the socket loop's mailbox at once (each is up to 800 KB).
    static let maximumWaitingSends = 16

    /// After the socket loop dropped a batch at a full worker pipe, batches are dropped unencoded for
    /// this long (they stay in their outboxes and are re-sent with back-off).
    static let sendPause: Duration = .milliseconds(100)

    /// Whether a head pull may go out: pulls in flight and pulled heads still waiting for their checks on
    /// the compute queue share one window of ``maximumInFlight``, so a compute queue that falls behind
    /// holds at most that many replies (a head is 6.4 MB at freeze point 7 until it is found equal to
    /// one already held) instead of one per announcement; the rest wait in the pull backlog.
    static func mayPull(inFlight: Int, headChecksQueued: Int) -> Bool {
        inFlight + headChecksQueued < maximumInFlight
    }

    /// Asks the registry for the user's head with the hash in use (one pull per phone in flight); the
    /// reply comes back through ``headReplyArrived(_:phone:request:)``.
    private mutating func requestHead(phone index: Int, haveHash: String?) async throws {
        guard let deployment, !pulling.contains(index) else { return }
        // While the registry is unreachable, phones do not each wait out a request timeout: the whole
        // fleet backs off (doubling up to 30 s) and the next due pull after that probes again.
        if let retryAt = registryRetryAt, ContinuousClock.now < retryAt { return }
        // Bounded: a pull that finds the window full is skipped; the phone asks again at its next pull.
        guard Self.mayPull(inFlight: inFlight.count, headChecksQueued: headChecksQueued) else { return }
        let phone = phones[index]
        let request = HeadRequest(
            userID: phone.user.rawValue, deviceID: phone.device.rawValue, haveHash: haveHash ?? "",
            modelVersion: deployment.modelVersion.number, freezePoint: UInt32(deployment.freezePoint.index),
            declinedHash: phone.machine.declinedHeadHash ?? "",
            // A delta applies to the parameters the phone holds, so it is asked for only when the fleet
            // holds the parameters of the head the machine runs.
            acceptDelta: phone.machine.acceptsHeadDelta && haveHash != nil && holdsHead(of: phone))
        pulling.insert(index)
        try await issue(.headRequest(request), for: index, purpose: .head(request))
    }

    /// Whether the fleet holds the parameters of the head `phone` runs (in memory or in the
    /// ``HeadStore``'s file), which a delta against that head needs.
    private func holdsHead(of phone: SimulatedPhone) -> Bool {
        guard let hash = phone.headHash else { return false }
        let source = heads.source(hash)
        return source.parameters != nil || source.file != nil
    }

    /// The registry answered a head pull: learn which batches are durable, swap in a new head.
    ///
    /// - Parameter bytes: the reply's size on the wire as received (0: not known, then it is re-encoded).
    mutating func headReplyArrived(_ reply: HeadReply, phone index: Int, request: HeadRequest, bytes: Int = 0)
        async throws -> [DeviceAction]
    {
        guard let deployment else { return [] }
        let phone = phones[index]
        registryBackoff = nil
        registryRetryAt = nil
        phones[index].headPulls += 1
        counters.headPulls.increment()
        // The request and its reply, as sized on the wire (the reply's tensor dominates).
        let requestBytes = (try? ThawMessage.headRequest(request).encodedByteCount) ?? 0
        let replyBytes = bytes > 0 ? bytes : ((try? ThawMessage.headReply(reply).encodedByteCount) ?? 0)
        phones[index].machine.transferred(bytesUp: requestBytes, bytesDown: replyBytes, now: WallClock.now())
        var actions = phones[index].machine.batchesDurable(seqs: reply.durableSeqs)
        if phones[index].machine.outbox.count > 0, let stamp = phones[index].machine.currentStamp {
            // Batches still outstanding may have been refused by a worker: collect the rejections.
            actions += try await requestFreezeSync(phone: index, stamp: stamp, sampleIds: [], collectOnly: true)
        }
        let outstanding = phones[index].machine.outbox.count > 0 || !phones[index].machine.pendingUploads.isEmpty
        phones[index].settledPulls = outstanding ? 0 : phones[index].settledPulls + 1
        // A full head, or a delta against the head in use (applied and verified on the compute queue).
        let delta: HeadCheckJob.Delta?
        switch (reply.status, reply.headParameters, reply.headDelta) {
        case (.head, .some(let full), _):
            delta = nil
            counters.headFullBytes.increment(by: full.scalars.count * 4)
        case (.headDelta, _, .some(let bytes)):
            guard phones[index].machine.headDeltaApplies(toBase: reply.deltaBaseHash), holdsHead(of: phones[index]),
                let base = phones[index].headHash.map({ heads.source($0) })
            else {
                refusals.refuse(
                    on: "dealer",
                    InputViolation(
                        .badHeadDelta,
                        "head v\(reply.headVersion) of \(phone.user) is a delta against \(reply.deltaBaseHash), "
                            + "not against the head in use (\(phone.machine.head?.hash ?? "none"))"))
                counters.headDeltasRefused.increment()
                return actions + phones[index].machine.headDeltaRefused(now: WallClock.now())
            }
            delta = HeadCheckJob.Delta(base: base.parameters, baseFile: base.file, bytes: bytes)
            counters.headDeltaBytes.increment(by: bytes.count)
        default:
            return actions + phones[index].machine.headNotModified()
        }
        let parameters = reply.headParameters ?? WireTensor(flat: [])
        let info = HeadInfo(
            version: reply.headVersion, hash: reply.headHash, freezePoint: FreezePoint(Int(reply.freezePoint)),
            modelVersion: ModelVersion(reply.modelVersion), byteCount: delta?.bytes.count ?? parameters.scalars.count * 4)
        // A head of the current model and freeze point is swapped into the model: its size must fit, or
        // ThawNN's precondition would stop the whole fleet, and its parameters must hash to the SHA-256 the
        // registry vouched for, so a corrupted or mislabelled head never replaces a working one. The hash
        // (16 ms for 6.4 MB) and the gate's two head passes run on the compute queue; the decision is
        // taken when they come back (``headChecked(_:)``).
        var job = HeadCheckJob(
            phone: index, reply: reply, info: info, what: "head v\(reply.headVersion) of \(phone.user)",
            freezePoint: deployment.freezePoint)
        if let model, reply.freezePoint == UInt32(deployment.freezePoint.index),
            reply.modelVersion == deployment.modelVersion.number
        {
            job.contract = ModelContract(model.architecture)
        }
        job.delta = delta
        if delta != nil, job.contract == nil {
            // A delta for another model or split than the phone's: it would be ignored as stale anyway.
            return actions + phones[index].machine.headNotModified()
        }
        // The phones of a user pull the same head at once (one announcement): a reply equal to one
        // already seen under its hash (a memcmp, well under a millisecond for 6.4 MB) uses that copy, and
        // its own is freed now rather than held while its check waits on the compute queue. Whether the
        // bytes match the hash is still checked there (once per copy: ``HeadVerifications``).
        // One copy per user (its newest head is the one its phones pull together), so at most one per
        // user is held here, not one per hash seen.
        if delta != nil {
            // Its parameters exist only once the delta is applied, on the compute queue.
        } else if let seen = seenHeads[reply.userID], seen.hash == reply.headHash,
            Self.sameScalars(seen.scalars, parameters.scalars)
        {
            job.reply.headParameters = WireTensor(shape: parameters.shape, scalars: seen.scalars)
        } else {
            seenHeads[reply.userID] = (reply.headHash, parameters.scalars)
        }
        if phones[index].machine.configuration.headSwapGate != nil, model != nil, let backbone {
            let entries = phones[index].machine.validationEntries
            let current = phones[index].headHash.map { heads.source($0) }
            job.gate = HeadCheckJob.Gate(
                inputs: entries.map(\.activation), labels: entries.map(\.label),
                current: current?.parameters, currentFile: current?.file,
                currentKey: phones[index].machine.head?.hash ?? "held-\(index)")
            let inbox = self.inbox
            phones[index].headChecksPending += 1
            headChecksQueued += 1
            let gated = job
            let verifications = headVerifications
            compute.submit(kind: "compute.headCheck") { inbox.put(.headChecked(gated.run(on: backbone, verifications: verifications))) }
            return actions
        }
        if job.contract != nil {
            let inbox = self.inbox
            phones[index].headChecksPending += 1
            headChecksQueued += 1
            let checked = job
            let verifications = headVerifications
            compute.submit(kind: "compute.headCheck") { inbox.put(.headChecked(checked.run(on: nil, verifications: verifications))) }
            return actions
        }
        return actions + headDecided(job.run(on: nil, verifications: nil), counted: false)
    }

    /// A head's checks (and the gate's evidence) came back from the compute queue: the phone decides.
    mutating func headChecked(_ result: HeadCheckResult) async throws {
        let index = result.phone
        phones[index].headChecksPending -= 1
        headChecksQueued -= 1
        guard !stopping else { return }
        catchUp(index)
        try await perform(headDecided(result, counted: true), phone: index)
    }

    private mutating func headDecided(_ result: HeadCheckResult, counted: Bool) -> [DeviceAction] {
        let index = result.phone
        let phone = phones[index]
        if let refusal = result.refusal {
            refusals.refuse(on: "dealer", refusal)
            // A delta that does not apply, or whose result does not hash to head_hash: the full head next.
            if result.fromDelta {
                counters.headDeltasRefused.increment()
                return phones[index].machine.headDeltaRefused(now: WallClock.now())
            }
            return phones[index].machine.headNotModified()
        }
        let reply = result.reply
        let info = result.info
        let parameters = reply.headParameters?.scalars ?? []
        if result.fromDelta {
            phones[index].machine.headDeltaApplied()
            counters.headDeltasApplied.increment()
        }
        phones[index].bytesReceived += info.byteCount
        let rejectedBefore = phones[index].machine.statistics.headsRejected
        let decided = phones[index].machine.headReceived(info, evidence: result.evidence)
        if phones[index].machine.statistics.headsRejected > rejectedBefore {
            StdoutLine.write(
                HeadDeclinedLine(
                    device: phone.device.rawValue, user: phone.user.rawValue, headVersion: reply.headVersion,
                    headHash: reply.headHash, validationSamples: phones[index].machine.validationEntries.count))
        }
        if decided.contains(.swapHead(info)) {
            sharedHead(hash: reply.headHash, parameters)
            phones[index].headHash = reply.headHash
            // The line is printed once the new head's held-out accuracy is known (compute queue).
            requestEvaluation(
                phone: index,
                purpose: .swap(
                    HeadSwapLine(
                        device: phone.device.rawValue, user: phone.user.rawValue, headVersion: reply.headVersion,
                        modelVersion: reply.modelVersion, freezePoint: Int(reply.freezePoint),
                        accuracyBefore: phones[index].baseAccuracy ?? 0, accuracy: phones[index].accuracy ?? 0,
                        download: result.fromDelta ? "delta" : "full", downloadBytes: info.byteCount)))
        }
        return decided
    }

    /// Whether two parameter arrays hold the same bits (NaN never reaches here: the wire refuses it).
    static func sameScalars(_ a: [Float], _ b: [Float]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                guard let p = x.baseAddress, let q = y.baseAddress, p != q else { return true }
                return memcmp(p, q, x.count) == 0
            }
        }
    }

    /// Keeps the parameters of head `hash`, one copy for every phone that swapped it in: a head is the
    /// same for all phones of a user (its hash is the SHA-256 of its parameters, checked before the swap),
    /// and at freeze point 7 of the FedAvg CNN it is 6.4 MB, so 10,000 phones cannot each keep their own.
    /// Beyond one head per user (and a few), the heads not arriving any more (not a user's newest, not
    /// this one) go to disk (``HeadStore``).
    mutating func sharedHead(hash: String, _ parameters: [Float]) {
        _ = heads.put(hash, parameters)
        if heads.inMemory.count > phonesByUser.count + 8 {
            heads.spill(keeping: Set(seenHeads.values.map(\.hash)).union([hash]), on: compute)
        }
    }

    /// Most users whose held-out backbone outputs are kept.
    static let evaluationCacheUsers = 64

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
        let head = phones[index].machine.head?.hash ?? (phones[index].headHash == nil ? "base" : "held-\(index)")
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
        let source = phones[index].headHash.map { heads.source($0) }
        startEvaluation(
            EvaluationJob(
                key: key, samples: phones[index].evaluation, head: source?.parameters, headFile: source?.file))
    }

    private func startEvaluation(_ job: EvaluationJob) {
        guard let backbone else { return }
        let (inbox, inputs, dataset) = (self.inbox, evaluationInputs, self.dataset)
        compute.submit(kind: "compute.evaluation") {
            inbox.put(.evaluated(job.run(on: backbone, inputs: inputs, dataset: dataset)))
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
        let (inbox, dataset, interner) = (self.inbox, self.dataset, sharing ? self.interner : nil)
        phones[index].rebuildsPending += 1
        compute.submit(kind: "compute.rebuild") {
            inbox.put(.rebuilt(plan.run(phone: index, on: backbone, dataset: dataset, interner: interner)))
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
    /// How the head came: `"delta"` (applied to the running head) or `"full"`; nil from older builds.
    package var download: String?
    /// Bytes of the head's frame as received (the delta's, or 4 × parameters for a full head).
    package var downloadBytes: Int?
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

/// Whether the send queue encodes the next batch for a worker: not while the socket loop has just
/// dropped one at that worker's full pipe (``DeviceFleet/sendPause``). The loop counts drops for the
/// process, not per socket, so a new drop is put down to the worker the last batch was handed to (the
/// loop sends in order; a dead or stalled worker is the one whose batches keep being dropped).
/// Confined to the fleet's send queue.
final class SendGate: @unchecked Sendable {
    // @unchecked: only ever touched by jobs on one serial `FleetCompute` queue.
    private var dropped = 0
    private var last: Int?
    private var pausedUntil: [Int: ContinuousClock.Instant] = [:]
    /// Batches dropped here, unencoded.
    private(set) var skipped = 0

    /// - Parameters:
    ///   - worker: the push socket's index.
    ///   - dropped: the socket loop's count of dropped messages now.
    func open(_ worker: Int, dropped: Int, now: ContinuousClock.Instant = .now) -> Bool {
        if dropped > self.dropped {
            self.dropped = dropped
            if let last { pausedUntil[last] = now + DeviceFleet.sendPause }
        }
        if let until = pausedUntil[worker], now < until {
            skipped += 1
            return false
        }
        return true
    }

    /// A batch for `worker` was handed to the socket loop.
    func handed(to worker: Int) { last = worker }
}
