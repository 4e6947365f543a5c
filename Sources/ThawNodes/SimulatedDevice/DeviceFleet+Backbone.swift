import CoreMetrics
import ThawData
import ThawNN

/// A backbone pass a phone asked for, waiting to be computed with other phones' in one batch.
struct BackboneRequest: Sendable {
    var phone: Int
    var sampleId: UInt64
    var modelVersion: ModelVersion
    var freezePoint: FreezePoint
    var checkpointsAt: [Int]
}

/// What a batched backbone pass computed, fed back to the fleet as an event.
struct BackboneResult: Sendable {
    var requests: [BackboneRequest]
    var outputs: [Activation]
    var checkpoints: [[Int: Activation]]
    /// The FLOPs of one sample's pass (every sample of a batch costs the same).
    var flopsPerSample: FLOPCount
    /// Samples that went through the model (the others' outputs were already held).
    var computed: Int
}

/// The fleet's own copy of the base model for batched backbone passes, used by one compute task at a
/// time (every job runs on the fleet's serial ``FleetCompute`` queue), so it is never shared between threads.
final class BackboneModel: @unchecked Sendable {
    let version: ModelVersion
    let model: Model
    /// The base model's parameters, kept once: a base head is a range of them.
    private let base: [Float]
    /// Which head the layers from `freezePoint` on hold now (nil: the base model's own everywhere).
    private var loaded: (key: String, freezePoint: FreezePoint)?

    init(version: ModelVersion, model: Model) {
        self.version = version
        self.model = model
        self.base = model.parameters
    }

    /// Puts `head` (nil: the base model's own) into the layers from `freezePoint` on, unless it is already
    /// there: a head is 6.4 MB for the FedAvg CNN at freeze point 7, so jobs that use the same head one
    /// after the other copy it once, not twice per use. A head whose size does not fit the split is not
    /// loaded (the base head is used, as before).
    func load(head: [Float]?, key: String, freezePoint: FreezePoint) {
        let range = model.parameterRange(layers: freezePoint.index..<model.layerCount)
        guard let head, head.count == range.count else {
            restoreBase()
            return
        }
        if let loaded, loaded.key == key, loaded.freezePoint == freezePoint { return }
        restoreBase()
        model.setHeadParameters(head, from: freezePoint)
        loaded = (key, freezePoint)
    }

    /// Makes every layer the base model's again (before a backbone pass, whose layers a head loaded at
    /// a smaller freeze point would otherwise have changed).
    func restoreBase() {
        guard let loaded else { return }
        let range = model.parameterRange(layers: loaded.freezePoint.index..<model.layerCount)
        model.setHeadParameters(Array(base[range]), from: loaded.freezePoint)
        self.loaded = nil
    }

    /// Makes layers `0..<freezePoint` the base model's (a head loaded at or after it may stay).
    func baseBelow(_ freezePoint: FreezePoint) {
        if let loaded, loaded.freezePoint < freezePoint { restoreBase() }
    }
}

extension DeviceFleet {
    /// Most samples in one batched backbone pass.
    static let backboneBatch = 128

    /// Passes waiting beyond which phones take no new sample (``workSlice(budget:)``): four batches.
    /// Recomputations a deployment change asks for are queued whatever the backlog.
    static let backboneBacklog = 4 * backboneBatch

    /// Starts the next batched backbone pass if none is running: up to ``backboneBatch`` queued requests
    /// under the same stamps and checkpoint layers (many phones' samples, one GEMM per layer), computed
    /// on the compute queue with the fleet's own model copy, never on the fleet's event task, so broadcasts
    /// and replies are handled while it runs. The result comes back as ``FleetEvent/backboneDone(_:)``.
    mutating func startBackboneJob() {
        guard !computing, !stopping, let backbone else { return }
        // Requests for a model this process no longer (or not yet) has are dropped: the phones re-request
        // them when they observe the deployment of the model they need.
        backboneQueue.removeAll { $0.modelVersion != backbone.version }
        let chunk = backboneQueue.takeBatch(limit: Self.backboneBatch)
        guard !chunk.isEmpty else { return }
        computing = true
        counters.backbonePasses.increment()
        counters.backboneSamples.increment(by: chunk.count)
        let samples = dataset.test
        let inbox = self.inbox
        let requests = chunk
        let interner = sharing ? self.interner : nil
        compute.submit(kind: "compute.backbone") {
            inbox.put(.backboneDone(Self.backbonePass(requests, on: backbone, samples: samples, interner: interner)))
        }
    }

    /// One batched backbone pass for `chunk` (same model version, freeze point and checkpoint layers),
    /// on the compute queue.
    ///
    /// With an interner, a sample whose output (and every checkpoint asked for) is already held, because
    /// another phone of the same writer computed it, is not computed again: the phone gets that
    /// bit-identical copy, and the rest (each distinct sample once) goes through the model as one batch.
    /// Every phone is charged one sample's FLOPs through layers `[0, k)` either way, as if its own
    /// phone had run it.
    static func backbonePass(
        _ chunk: [BackboneRequest], on backbone: BackboneModel, samples: HandwritingSamples,
        interner: ActivationInterner?
    ) -> BackboneResult {
        let first = chunk[0]
        let version = backbone.version
        let freezePoint = first.freezePoint.index
        let n = chunk.count
        var outputs: [Activation?] = Array(repeating: nil, count: n)
        var checkpoints: [[Int: Activation]] = Array(repeating: [:], count: n)
        // The rows to compute: one per distinct sample not held yet.
        var missing: [UInt64: [Int]] = [:]
        var order: [UInt64] = []
        for row in 0..<n {
            let id = chunk[row].sampleId
            if let interner, let output = interner.lookup(modelVersion: version, layer: freezePoint, sampleId: id) {
                var held: [Int: Activation] = [:]
                for layer in first.checkpointsAt {
                    guard let checkpoint = interner.lookup(modelVersion: version, layer: layer, sampleId: id) else { break }
                    held[layer] = checkpoint
                }
                if held.count == first.checkpointsAt.count {
                    outputs[row] = output
                    checkpoints[row] = held
                    continue
                }
            }
            if missing[id] == nil { order.append(id) }
            missing[id, default: []].append(row)
        }
        let model = backbone.model
        let perSample = FLOPCount(
            forward: model.architecture.forwardFLOPs(layers: 0..<freezePoint, samples: 1), backward: 0, optimizer: 0)
        if !order.isEmpty {
            backbone.baseBelow(first.freezePoint)
            let pixels = samples.floatPixels(order.map { Int($0) })
            let (output, recorded) = model.forward(
                Tensor(shape: [order.count, 1, samples.rows, samples.columns], scalars: pixels),
                layers: 0..<freezePoint, recordingAt: Set(first.checkpointsAt))
            for (computed, id) in order.enumerated() {
                var activation = Self.row(computed, of: output)
                if let interner {
                    // Equal outputs of other phones are held once.
                    activation = interner.intern(activation, modelVersion: version, layer: freezePoint, sampleId: id)
                }
                var held: [Int: Activation] = [:]
                for (layer, tensor) in recorded {
                    // A checkpoint equal to the output (layer 6 of the FedAvg CNN, a max-pool, before the
                    // flatten at 7) shares its storage: same bits, held once.
                    let checkpoint = Self.row(computed, of: tensor)
                    var kept =
                        checkpoint.hasSameBits(as: activation)
                        ? Activation(shape: checkpoint.shape, sharing: activation) : checkpoint
                    if let interner { kept = interner.intern(kept, modelVersion: version, layer: layer, sampleId: id) }
                    held[layer] = kept
                }
                for row in missing[id] ?? [] {
                    outputs[row] = activation
                    checkpoints[row] = held
                }
            }
        }
        return BackboneResult(
            requests: chunk, outputs: outputs.map { $0! }, checkpoints: checkpoints, flopsPerSample: perSample,
            computed: order.count)
    }

    /// A batched pass finished: each phone is charged its own samples' FLOPs and gets its results.
    mutating func backboneDone(_ result: BackboneResult) async throws {
        computing = false
        guard !stopping else { return }
        backboneResults.append(result)
        startBackboneJob()
        try await drainBackboneResults()
    }

    /// Hands finished passes to their phones, one phone at a time, stopping as soon as a control event
    /// waits (a pass has up to 128 phones); the rest is handed over before the next slice.
    mutating func drainBackboneResults() async throws {
        while let result = backboneResults.first {
            while backboneRow < result.requests.count {
                if inbox.controlPending { return }
                let row = backboneRow
                backboneRow += 1
                let request = result.requests[row]
                catchUp(request.phone)
                phones[request.phone].machine.computed(flops: result.flopsPerSample)
                let actions = phones[request.phone].machine.backboneComputed(
                    sampleId: request.sampleId, activation: result.outputs[row], checkpoints: result.checkpoints[row],
                    modelVersion: request.modelVersion, freezePoint: request.freezePoint)
                try await perform(actions, phone: request.phone)
            }
            backboneResults.removeFirst()
            backboneRow = 0
        }
    }

    /// Sample `row` of a batch tensor as an activation.
    static func row(_ row: Int, of tensor: Tensor) -> Activation {
        let width = tensor.sampleCount
        return Activation(shape: tensor.sampleShape, scalars: Array(tensor.scalars[(row * width)..<((row + 1) * width)]))
    }
}
