/// Head training: forward, loss and backward over `[k, L)` only, then an optimiser step on the head's range.
extension Model {
    /// One optimisation step of the head on a batch of activations at `freezePoint`.
    ///
    /// input: [batch] + activationShape(k), labels: batch class indices. The backbone `[0, k)` is neither run
    /// nor given gradient storage, and its parameters stay bit-identical. The first head layer computes no
    /// input gradient, since nothing upstream is trained.
    ///
    /// - Returns: the mean cross-entropy loss of the batch before the update.
    @discardableResult
    public func trainStep(
        input: Tensor, labels: [Int], freezePoint: FreezePoint, optimizer: inout some Optimizer
    ) -> Float {
        let head = freezePoint.index..<layerCount
        precondition(!head.isEmpty, "freeze point \(freezePoint) leaves no layer to train")
        let range = parameterRange(layers: head)
        parameterBuffer.zeroGradients(for: range)
        let logits = forward(input, layers: head, training: true)
        let loss = SoftmaxCrossEntropy.lossAndGradient(logits: logits, labels: labels, gradient: &lossGradient)
        var gradient = lossGradient
        for index in head.reversed() {
            let needsInput = index > head.lowerBound
            countBackward(layer: index, samples: input.batchSize, includingInputGradient: needsInput)
            guard let dx = layer(at: index).backward(gradient, needsInputGradient: needsInput) else { break }
            gradient = dx
        }
        if !range.isEmpty {
            optimizer.step(parameters: &parameterBuffer.values, gradients: parameterBuffer.gradients, range: range)
            countOptimizerStep(parameters: range.count)
        }
        return loss
    }

    /// A copy of the head's parameters, the layers `[k, L)`.
    public func headParameters(from freezePoint: FreezePoint) -> [Float] {
        Array(parameterBuffer.values[parameterRange(layers: freezePoint.index..<layerCount)])
    }

    /// Replaces the head's parameters.
    ///
    /// - Precondition: `head.count` equals the head's parameter count.
    public func setHeadParameters(_ head: [Float], from freezePoint: FreezePoint) {
        let range = parameterRange(layers: freezePoint.index..<layerCount)
        precondition(head.count == range.count, "\(head.count) head parameters for \(range.count) at \(freezePoint)")
        parameterBuffer.values.replaceSubrange(range, with: head)
    }
}
