import CoreMetrics
import ThawData
import ThawNN

/// A backbone pass a phone asked for, waiting to be computed with other phones' in one batch.
struct BackboneRequest {
    var phone: Int
    var sampleId: UInt64
    var modelVersion: ModelVersion
    var freezePoint: FreezePoint
    var checkpointsAt: [Int]
}

extension DeviceFleet {
    /// Most samples in one batched backbone pass.
    static let backboneBatch = 128

    /// Runs every queued backbone pass, many phones' samples in one forward (one GEMM per layer over the
    /// batch), and feeds each phone its own result. Each phone is charged the FLOPs of its own samples
    /// (the batch's count divided by its size: every sample costs the same).
    mutating func runBackboneBatch() async throws {
        while !backboneQueue.isEmpty {
            let queued = backboneQueue
            backboneQueue.removeAll(keepingCapacity: true)
            // Requests under the same stamps and checkpoint layers share a pass.
            var groups: [[BackboneRequest]] = []
            var groupIndex: [String: Int] = [:]
            for request in queued {
                let key = "\(request.modelVersion.number)/\(request.freezePoint.index)/\(request.checkpointsAt)"
                if let at = groupIndex[key] {
                    groups[at].append(request)
                } else {
                    groupIndex[key] = groups.count
                    groups.append([request])
                }
            }
            for group in groups {
                var start = 0
                while start < group.count {
                    let chunk = Array(group[start..<min(group.count, start + Self.backboneBatch)])
                    start += chunk.count
                    try await computeBackbone(chunk)
                }
            }
        }
    }

    private mutating func computeBackbone(_ chunk: [BackboneRequest]) async throws {
        guard let first = chunk.first, let model, modelVersion == first.modelVersion else { return }
        let samples = dataset.test
        let input = Tensor(
            shape: [chunk.count, 1, samples.rows, samples.columns],
            scalars: samples.floatPixels(chunk.map { Int($0.sampleId) }))
        let before = model.executedFLOPs
        let (output, recorded) = model.forward(
            input, layers: 0..<first.freezePoint.index, recordingAt: Set(first.checkpointsAt))
        let spent = model.executedFLOPs - before
        counters.backbonePasses.increment()
        counters.backboneSamples.increment(by: chunk.count)
        let n = chunk.count
        let share = FLOPCount(forward: spent.forward / n, backward: spent.backward / n, optimizer: spent.optimizer / n)
        for (row, request) in chunk.enumerated() {
            phones[request.phone].machine.computed(flops: share)
            let actions = phones[request.phone].machine.backboneComputed(
                sampleId: request.sampleId, activation: Self.row(row, of: output),
                checkpoints: recorded.mapValues { Self.row(row, of: $0) }, modelVersion: first.modelVersion,
                freezePoint: first.freezePoint)
            try await perform(actions, phone: request.phone)
        }
    }

    /// Sample `row` of a batch tensor as an activation.
    static func row(_ row: Int, of tensor: Tensor) -> Activation {
        let width = tensor.sampleCount
        return Activation(shape: tensor.sampleShape, scalars: Array(tensor.scalars[(row * width)..<((row + 1) * width)]))
    }
}
