import Foundation
import ThawNN

/// A k-nearest-neighbour classifier over a phone's own cached activations (no training at all), and its
/// kNN-Per mixture with the general model (Marfoq et al., "Personalized federated learning through local
/// memorization", ICML 2022): p = w · p_kNN + (1 − w) · p_general.
public struct NearestNeighbours: Sendable {
    public let k: Int
    let features: [Float]
    let labels: [Int]
    let dimension: Int

    /// - Parameter store: `[n] + shape` activations with their labels (the phone's datastore).
    public init(k: Int, store: Tensor, labels: [Int]) {
        precondition(k >= 1 && labels.count == store.batchSize, "k must be >= 1 and one label per stored sample")
        self.k = k
        self.features = store.scalars
        self.labels = labels
        self.dimension = store.batchSize == 0 ? 0 : store.scalars.count / store.batchSize
    }

    /// Per query, the share of its k nearest stored samples (squared Euclidean distance) in each class;
    /// all zero with an empty store.
    public func probabilities(_ queries: Tensor, classes: Int) -> [[Double]] {
        let q = queries.scalars
        let n = labels.count
        let d = queries.batchSize == 0 ? 0 : q.count / queries.batchSize
        precondition(n == 0 || queries.batchSize == 0 || d == dimension, "query dimension \(d) does not match the store's \(dimension)")
        return (0..<queries.batchSize).map { row in
            var result = [Double](repeating: 0, count: classes)
            guard n > 0 else { return result }
            var distances: [(Float, Int)] = []
            distances.reserveCapacity(n)
            q.withUnsafeBufferPointer { qp in
                features.withUnsafeBufferPointer { fp in
                    for j in 0..<n {
                        var sum: Float = 0
                        let a = row * d
                        let b = j * d
                        for i in 0..<d {
                            let diff = qp[a + i] - fp[b + i]
                            sum += diff * diff
                        }
                        distances.append((sum, j))
                    }
                }
            }
            distances.sort { $0 < $1 }
            let used = min(k, n)
            for (_, j) in distances.prefix(used) where labels[j] < classes { result[labels[j]] += 1 / Double(used) }
            return result
        }
    }

    /// The kNN-Per prediction: argmax of `weight · p_kNN + (1 − weight) · softmax(generalLogits)`.
    public func mixedPredictions(_ queries: Tensor, generalLogits: Tensor, weight: Double) -> [Int] {
        mixedProbabilities(queries, generalLogits: generalLogits, weight: weight).map { row in
            var best = 0
            for c in row.indices where row[c] > row[best] { best = c }
            return best
        }
    }

    /// The kNN-Per mixture itself, `weight · p_kNN + (1 − weight) · softmax(generalLogits)` per query (what a
    /// gate that weighs likelihoods compares).
    public func mixedProbabilities(_ queries: Tensor, generalLogits: Tensor, weight: Double) -> [[Double]] {
        let classes = generalLogits.sampleShape.reduce(1, *)
        let knn = probabilities(queries, classes: classes)
        let general = Softmax.probabilities(generalLogits)
        return (0..<queries.batchSize).map { row in
            (0..<classes).map { c in weight * knn[row][c] + (1 - weight) * general[row][c] }
        }
    }
}

/// Row-wise softmax of `[n, classes]` logits, in doubles.
public enum Softmax {
    public static func probabilities(_ logits: Tensor) -> [[Double]] {
        let classes = logits.sampleShape.reduce(1, *)
        let values = logits.scalars
        return (0..<logits.batchSize).map { row in
            let slice = values[(row * classes)..<((row + 1) * classes)].map(Double.init)
            let top = slice.max() ?? 0
            let exps = slice.map { exp($0 - top) }
            let total = exps.reduce(0, +)
            return exps.map { $0 / total }
        }
    }
}
