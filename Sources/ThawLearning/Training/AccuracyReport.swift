import ThawData
import ThawNN

/// Accuracy on a population of writers, overall and per writer.
public struct AccuracyReport: Sendable, Equatable {
    /// Share of all samples classified correctly.
    public var overall: Double
    /// Writer id → share of that writer's samples classified correctly.
    public var perUser: [UInt16: Double]
    public var sampleCount: Int

    public init(overall: Double, perUser: [UInt16: Double], sampleCount: Int) {
        self.overall = overall
        self.perUser = perUser
        self.sampleCount = sampleCount
    }

    /// Evaluates `model` on every sample of `samples` (inference mode, chunked).
    public static func evaluate(_ model: Model, on samples: HandwritingSamples) -> AccuracyReport {
        var predictions: [Int] = []
        predictions.reserveCapacity(samples.count)
        var start = 0
        let chunk = 1024
        while start < samples.count {
            let end = min(start + chunk, samples.count)
            predictions += model.predict(Batching.images(samples, Array(start..<end)))
            start = end
        }
        var correct: [UInt16: (right: Int, total: Int)] = [:]
        var right = 0
        for i in 0..<samples.count {
            let ok = predictions[i] == Int(samples.labels[i])
            if ok { right += 1 }
            correct[samples.writers[i], default: (0, 0)].right += ok ? 1 : 0
            correct[samples.writers[i], default: (0, 0)].total += 1
        }
        return AccuracyReport(
            overall: samples.count == 0 ? 0 : Double(right) / Double(samples.count),
            perUser: correct.mapValues { Double($0.right) / Double($0.total) },
            sampleCount: samples.count)
    }
}
