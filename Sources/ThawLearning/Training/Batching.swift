import ThawData
import ThawNN

/// Handwriting samples → image tensors, the one place pixel bytes become floats.
public enum Batching {
    /// The images at `indices` as an `[n, 1, rows, columns]` tensor of floats in [0, 1].
    public static func images(_ samples: HandwritingSamples, _ indices: [Int]) -> Tensor {
        Tensor(shape: [indices.count, 1, samples.rows, samples.columns], scalars: samples.floatPixels(indices))
    }

    /// Every image of `samples`, in order.
    public static func images(_ samples: HandwritingSamples) -> Tensor {
        images(samples, Array(0..<samples.count))
    }

    /// Runs layers `[0, k)` in inference mode, `chunk` samples at a time to bound activation memory,
    /// and returns the activations at `k` (what a phone caches).
    public static func backboneActivations(_ model: Model, input: Tensor, freezePoint: FreezePoint, chunk: Int = 256) -> Tensor {
        guard freezePoint.index > 0 else { return input }
        guard input.batchSize > 0 else {
            return Tensor.zeros([0] + model.architecture.activationShape(at: freezePoint.index))
        }
        var parts: [Tensor] = []
        var start = 0
        while start < input.batchSize {
            let end = min(start + chunk, input.batchSize)
            parts.append(model.forward(input.rows(start..<end), layers: 0..<freezePoint.index, training: false))
            start = end
        }
        return Tensor.concatenatingRows(parts)
    }
}
