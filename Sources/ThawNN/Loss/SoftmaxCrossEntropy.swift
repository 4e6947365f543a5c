/// Softmax followed by the negative log-likelihood of the true class, averaged over the batch.
public enum SoftmaxCrossEntropy {
    /// The mean loss and its gradient with respect to the logits.
    ///
    /// logits: [batch, classes], labels: batch values in 0..<classes → (loss, dlogits: [batch, classes]) with
    /// dlogits = (softmax(logits) − onehot(labels)) / batch. Computed with the max subtracted, in Double.
    public static func lossAndGradient(logits: Tensor, labels: [Int]) -> (loss: Float, gradient: Tensor) {
        var gradient = Tensor.unsized
        let loss = lossAndGradient(logits: logits, labels: labels, gradient: &gradient)
        return (loss, gradient)
    }

    /// The mean loss, with the gradient written into `gradient` (reshaped to the logits' shape, its storage
    /// reused when the size matches, so a training loop allocates nothing here).
    public static func lossAndGradient(logits: Tensor, labels: [Int], gradient: inout Tensor) -> Float {
        precondition(logits.shape.count == 2, "logits must be [batch, classes], got \(logits.shape)")
        let (batch, classes) = (logits.shape[0], logits.shape[1])
        precondition(batch > 0 && labels.count == batch, "\(labels.count) labels for a batch of \(batch)")
        gradient.prepare(logits.shape)
        var total = 0.0
        let invBatch = 1.0 / Double(batch)
        logits.scalars.withUnsafeBufferPointer { z in
            gradient.scalars.withUnsafeMutableBufferPointer { g in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: classes) { probabilities in
                    for row in 0..<batch {
                        let label = labels[row]
                        precondition(label >= 0 && label < classes, "label \(label) outside 0..<\(classes)")
                        let base = row &* classes
                        var maximum = Double(z[base])
                        for j in 1..<classes { maximum = max(maximum, Double(z[base &+ j])) }
                        var sum = 0.0
                        for j in 0..<classes {
                            probabilities[j] = Elementary.exp(Double(z[base &+ j]) - maximum)
                            sum += probabilities[j]
                        }
                        // −log softmax(z)_label = log Σ exp(z_j − max) − (z_label − max)
                        total += Elementary.log(sum) - (Double(z[base &+ label]) - maximum)
                        for j in 0..<classes {
                            let p = probabilities[j] / sum
                            g[base &+ j] = Float((p - (j == label ? 1 : 0)) * invBatch)
                        }
                    }
                }
            }
        }
        return Float(total * invBatch)
    }

    /// The mean loss alone.
    public static func loss(logits: Tensor, labels: [Int]) -> Float {
        lossAndGradient(logits: logits, labels: labels).loss
    }
}

/// Arg-max and accuracy helpers over `[batch, classes]` scores.
public enum Classification {
    /// The index of the largest score in each row (the first one on ties).
    public static func argmax(_ scores: Tensor) -> [Int] {
        precondition(scores.shape.count == 2 && scores.shape[1] > 0, "scores must be [batch, classes]")
        let classes = scores.shape[1]
        return (0..<scores.shape[0]).map { row in
            var best = 0
            for j in 1..<classes where scores.scalars[row * classes + j] > scores.scalars[row * classes + best] {
                best = j
            }
            return best
        }
    }

    /// The fraction of predictions equal to the labels (0 for no samples).
    public static func accuracy(predictions: [Int], labels: [Int]) -> Double {
        precondition(predictions.count == labels.count, "\(predictions.count) predictions for \(labels.count) labels")
        guard !labels.isEmpty else { return 0 }
        return Double(zip(predictions, labels).filter { $0 == $1 }.count) / Double(labels.count)
    }
}
