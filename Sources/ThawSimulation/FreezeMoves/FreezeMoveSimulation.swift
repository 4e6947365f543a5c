import Foundation
import ThawNN
import ThawNodes
import ThawWire

/// An in-process run of one freeze move for a fleet of phones and a registry, used by
/// `thaw bench freeze-move` (docs/FREEZE-MOVES.md).
///
/// Real components, no sockets: every phone is a ``DeviceStateMachine`` whose actions are carried out
/// here (backbone passes and rebuilds on a real ``Model``, batches encoded with ``WireCodec`` to count the
/// bytes a radio would carry, then stored in a real ``RegistryStore``), and the cloud side is the
/// registry's own ``FeatureAdvancer``. The naive baseline drops every cache entry and re-extracts every
/// annotated sample from the raw input, uploading all of them again — what PipeTransformer and FedGKT
/// do. What is not simulated: head training (the same for both policies), radio timing.
///
/// Thread rule: a value used by one caller; it owns its model and store.
public struct FreezeMoveSimulation {
    public enum Policy: String, Sendable, Codable { case thaw, naive }

    /// One phone's user and its annotated samples (id in the image source, label).
    public struct PhoneSpec: Sendable {
        public var user: String
        public var samples: [(id: UInt64, label: Int)]

        public init(user: String, samples: [(id: UInt64, label: Int)]) {
            self.user = user
            self.samples = samples
        }
    }

    /// What one move cost, summed over the fleet.
    public struct Tally: Codable, Sendable, Equatable {
        public init() {}

        /// Feature-batch bytes on the wire (encoded frames), devices to cloud.
        public var bytesUploaded = 0
        /// Other device-to-cloud bytes the move needed (freeze-sync requests).
        public var controlBytesUploaded = 0
        public var batchesUploaded = 0
        /// Phones that switched their radio on for the move (sent a batch or a sync); each pays one radio
        /// tail, since a phone's sync and its uploads go out back to back.
        public var radioSessions = 0
        public var samplesUploaded = 0
        /// Forward FLOPs the phones executed for the move.
        public var deviceFLOPs = 0.0
        /// Entries rebuilt from a stored activation (checkpoint or own output) vs from the raw input.
        public var entriesFromActivation = 0
        public var entriesFromRaw = 0
        /// Rows the cloud advanced itself.
        public var cloudRowsAdvanced = 0
        /// Measured seconds: phones' compute, cloud work (storing, advancing), the whole move.
        public var deviceSeconds = 0.0
        public var cloudSeconds = 0.0
        public var wallSeconds = 0.0
        /// Samples the registry holds at the new point afterwards (must equal the annotated total).
        public var cloudSamplesAtTarget = 0
    }

    public let model: Model
    public let store: RegistryStore
    public let initialState: DeploymentState
    let image: (UInt64) -> Tensor
    let configuration: DeviceConfiguration
    var phones: [(spec: PhoneSpec, machine: DeviceStateMachine)] = []
    var state: DeploymentState
    var tally = Tally()
    var now = Timestamp(milliseconds: 1_000)
    /// A naive device starts over with a fresh state; a new device name keeps its batch sequence
    /// numbers from colliding with the ones the registry already stored.
    var incarnation = 0
    /// Phones that transmitted during the current move.
    var transmitting: Set<Int> = []

    /// - Parameters:
    ///   - image: the raw input of a sample as a `[1, ...inputShape]` tensor.
    ///   - checkpointLayers: the phones' checkpoint layers (from ``CheckpointPlacement``).
    public init(
        model: Model, store: RegistryStore, state: DeploymentState, phones: [PhoneSpec], checkpointLayers: [Int],
        image: @escaping (UInt64) -> Tensor
    ) {
        self.model = model
        self.store = store
        self.initialState = state
        self.state = state
        self.image = image
        let device = DeviceConfiguration(
            layerCount: model.layerCount, cacheCapacityBytes: 1 << 30, checkpointLayers: checkpointLayers,
            flush: FlushPolicy(minimumBatteryPercent: 0, minimumBatch: 1, maximumAge: .seconds(1)))
        self.configuration = device
        self.phones = phones.map { ($0, DeviceStateMachine(configuration: device)) }
    }

    /// Every phone computes its annotated samples at the initial point and uploads them; afterwards the
    /// cloud holds every sample at the initial point, as in a running system before a move.
    public mutating func populate() throws {
        for index in phones.indices {
            try perform(phones[index].machine.deploymentObserved(state, now: now), phone: index)
            try arrive(phone: index)
            try flush(phone: index)
        }
        tally = Tally()
    }

    /// Moves every phone and the cloud to `freezePoint` under `policy` and returns what it cost.
    public mutating func move(to freezePoint: FreezePoint, policy: Policy) throws -> Tally {
        tally = Tally()
        transmitting = []
        let started = ContinuousClock.now
        var next = state
        next.freezePoint = freezePoint
        next.epoch += 1
        state = next
        switch policy {
        case .thaw:
            let cloudStart = ContinuousClock.now
            var advancer = FeatureAdvancer(pageSize: 256)
            advancer.follow(next)
            let advance = FeatureAdvancer.modelAdvance(model)
            while true {
                if case .finished = try advancer.step(store: store, advance: advance) { break }
            }
            tally.cloudRowsAdvanced = advancer.rowsAdvanced
            tally.cloudSeconds += (ContinuousClock.now - cloudStart).secondsValue
            for index in phones.indices {
                try perform(phones[index].machine.deploymentObserved(next, now: now), phone: index)
                try flush(phone: index)
            }
        case .naive:
            for index in phones.indices {
                // Drop the cache: a fresh device that knows only its annotated labels.
                phones[index].machine = DeviceStateMachine(configuration: configuration)
                incarnation = Int(next.epoch)
                try perform(phones[index].machine.deploymentObserved(next, now: now), phone: index)
                try arrive(phone: index)
                try flush(phone: index)
            }
        }
        tally.wallSeconds = (ContinuousClock.now - started).secondsValue
        tally.radioSessions = transmitting.count
        tally.cloudSamplesAtTarget = try phones.reduce(0) { total, phone in
            total + (try store.featureCount(UserID(phone.spec.user), stamps: FeatureStamps(next)))
        }
        return tally
    }

    /// Every annotated sample of the phone arrives; their backbone passes run as one batch.
    private mutating func arrive(phone index: Int) throws {
        var actions: [DeviceAction] = []
        for sample in phones[index].spec.samples {
            actions += phones[index].machine.sampleArrived(
                sampleId: sample.id, annotated: true, label: sample.label, now: now)
        }
        try perform(actions, phone: index)
    }

    private mutating func flush(phone index: Int) throws {
        for _ in 0..<10_000 {
            now = now.advanced(by: .seconds(5))
            let actions = phones[index].machine.tick(now: now)
            try perform(actions, phone: index)
            if phones[index].machine.pendingUploads.isEmpty && phones[index].machine.outbox.count == 0 { return }
        }
    }

    private mutating func perform(_ initial: [DeviceAction], phone index: Int) throws {
        var queue = initial[...]
        while let action = queue.popFirst() {
            switch action {
            case .computeBackbone(let id, let version, let upTo, let checkpointsAt):
                // Both policies run their passes as one batch per kind (a phone extracts many samples in
                // one go), so wall times compare the work, not batch-1 matrix-vector overheads.
                var ids = [id]
                while case .computeBackbone(let next, version, upTo, checkpointsAt)? = queue.first {
                    ids.append(next)
                    queue.removeFirst()
                }
                let start = ContinuousClock.now
                let input = Tensor(
                    shape: [ids.count] + model.architecture.inputShape,
                    scalars: ids.flatMap { image($0).scalars })
                let (output, recorded) = model.forward(input, layers: 0..<upTo.index, recordingAt: Set(checkpointsAt))
                tally.deviceSeconds += (ContinuousClock.now - start).secondsValue
                tally.deviceFLOPs += Double(ids.count) * flops(0, upTo.index)
                tally.entriesFromRaw += ids.count
                for (row, sample) in ids.enumerated() {
                    queue += phones[index].machine.backboneComputed(
                        sampleId: sample, activation: Self.activation(output.rows(row..<(row + 1))),
                        checkpoints: recorded.mapValues { Self.activation($0.rows(row..<(row + 1))) },
                        modelVersion: version, freezePoint: upTo)
                }
            case .rebuildActivations(let plan):
                let groups = Dictionary(grouping: plan.steps) { $0.startLayer }
                for startLayer in groups.keys.sorted() {
                    let steps = groups[startLayer]!
                    let start = ContinuousClock.now
                    var scalars: [Float] = []
                    for step in steps {
                        switch step.source {
                        case .rawInput: scalars += image(step.sampleId).scalars
                        case .activation(_, let activation): scalars += activation.scalars
                        }
                    }
                    let shape = model.architecture.activationShape(at: startLayer)
                    let output = model.advance(
                        checkpoint: Tensor(shape: [steps.count] + shape, scalars: scalars), from: startLayer,
                        to: plan.target.index)
                    tally.deviceSeconds += (ContinuousClock.now - start).secondsValue
                    tally.deviceFLOPs += Double(steps.count) * flops(startLayer, plan.target.index)
                    if startLayer == 0 {
                        tally.entriesFromRaw += steps.count
                    } else {
                        tally.entriesFromActivation += steps.count
                    }
                    for (row, step) in steps.enumerated() {
                        queue += phones[index].machine.backboneComputed(
                            sampleId: step.sampleId, activation: Self.activation(output.rows(row..<(row + 1))),
                            checkpoints: [:], modelVersion: plan.modelVersion, freezePoint: plan.target)
                    }
                }
            case .sendBatch(let batch):
                try upload(batch, phone: index)
                queue += phones[index].machine.batchesDurable(seqs: [batch.seq])
            case .syncFreezeMove(let stamp, let ids):
                let spec = phones[index].spec
                let request = ThawMessage.freezeSyncRequest(
                    FreezeSyncRequest(
                        userID: spec.user, deviceID: deviceName(spec), modelVersion: stamp.modelVersion.number,
                        freezePoint: UInt32(stamp.freezePoint.index), hyperHash: stamp.hyperParameterHash,
                        sampleIDs: ids))
                transmitting.insert(index)
                tally.controlBytesUploaded += try WireCodec.encode(request, metadata: Self.metadata).reduce(0) {
                    $0 + $1.count
                }
                let start = ContinuousClock.now
                let missing = try store.missingSamples(UserID(spec.user), stamps: stamp, among: ids)
                tally.cloudSeconds += (ContinuousClock.now - start).secondsValue
                queue += phones[index].machine.freezeSyncReceived(stamp: stamp, missing: missing)
            case .loadBackbone, .runHead, .discardPredictions, .requestHead, .swapHead, .persistCache:
                break
            }
        }
    }

    private mutating func upload(_ batch: DeviceBatch, phone index: Int) throws {
        let spec = phones[index].spec
        let rowShape = batch.entries.first?.activation.shape ?? []
        var scalars: [Float] = []
        for entry in batch.entries { scalars += entry.activation.scalars }
        let wire = ThawWire.FeatureBatch(
            userID: spec.user, deviceID: deviceName(spec), deviceSeq: batch.seq,
            modelVersion: batch.stamp.modelVersion.number, modelHash: state.modelHash,
            freezePoint: UInt32(batch.stamp.freezePoint.index), hyperHash: batch.stamp.hyperParameterHash,
            sampleIDs: batch.entries.map(\.sampleId), labels: batch.entries.map { UInt32($0.label) },
            createdAtMs: 0, activations: WireTensor(shape: [batch.entries.count] + rowShape, scalars: scalars),
            epoch: state.epoch)
        tally.bytesUploaded += try WireCodec.encode(.featureBatch(wire), metadata: Self.metadata).reduce(0) {
            $0 + $1.count
        }
        tally.batchesUploaded += 1
        transmitting.insert(index)
        tally.samplesUploaded += batch.entries.count
        let start = ContinuousClock.now
        _ = try store.storeBatch(
            FeatureBatch(
                user: UserID(spec.user), device: DeviceID(deviceName(spec)), sequence: batch.seq,
                stamps: batch.stamp,
                samples: batch.entries.map {
                    FeatureSample(
                        sampleID: $0.sampleId, label: $0.label,
                        activations: StoredActivations(shape: $0.activation.shape, scalars: $0.activation.scalars))
                }))
        tally.cloudSeconds += (ContinuousClock.now - start).secondsValue
    }

    private func deviceName(_ spec: PhoneSpec) -> String { "device-\(spec.user)-\(incarnation)" }

    private func flops(_ from: Int, _ to: Int) -> Double {
        guard from < to else { return 0 }
        return (from..<to).reduce(0) { total, layer in
            let cost = model.architecture.cost(ofLayer: layer)
            return total + 2 * Double(cost.forwardMACs) + Double(cost.elementwiseOps)
        }
    }

    static let metadata = WireMetadata(sender: "bench-device", sequence: 1, sentAtUnixMs: 0)

    static func activation(_ tensor: Tensor) -> Activation {
        Activation(shape: tensor.sampleShape, scalars: tensor.scalars)
    }
}
