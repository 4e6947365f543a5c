/// The FedAvg aggregation rule: w ← Σₖ (nₖ / n) · wₖ over the updates that arrived, n = Σₖ nₖ.
public enum WeightedAverage {
    /// The average of `updates` weighted by their sample counts, accumulated in Double so that the
    /// result does not depend on more than float rounding of the final value.
    ///
    /// - Precondition: `updates` is not empty, every vector has the same length, and every count is positive.
    public static func of(_ updates: [(weights: [Float], samples: Int)]) -> [Float] {
        precondition(!updates.isEmpty, "averaging needs at least one update")
        let count = updates[0].weights.count
        precondition(updates.allSatisfy { $0.weights.count == count && $0.samples > 0 }, "mismatched updates")
        let total = Double(updates.reduce(0) { $0 + $1.samples })
        var sum = [Double](repeating: 0, count: count)
        for update in updates {
            let share = Double(update.samples) / total
            update.weights.withUnsafeBufferPointer { w in
                for i in 0..<count { sum[i] += share * Double(w[i]) }
            }
        }
        return sum.map { Float($0) }
    }
}
