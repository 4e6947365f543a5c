/// Batch-dimension helpers: slicing, gathering and concatenating samples.
extension Tensor {
    /// The samples in `range`, as a new tensor.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(range.lowerBound >= 0 && range.upperBound <= batchSize, "rows \(range) outside 0..<\(batchSize)")
        let stride = sampleCount
        var newShape = shape
        newShape[0] = range.count
        return Tensor(
            shape: newShape, scalars: Array(scalars[(range.lowerBound * stride)..<(range.upperBound * stride)]))
    }

    /// The samples at `indices`, in that order (repeats allowed), as a new tensor.
    public func gatheringRows(_ indices: [Int]) -> Tensor {
        let stride = sampleCount
        var out = [Float]()
        out.reserveCapacity(indices.count * stride)
        for index in indices {
            precondition(index >= 0 && index < batchSize, "row \(index) outside 0..<\(batchSize)")
            out.append(contentsOf: scalars[(index * stride)..<((index + 1) * stride)])
        }
        var newShape = shape
        newShape[0] = indices.count
        return Tensor(shape: newShape, scalars: out)
    }

    /// Stacks tensors with equal sample shapes along the batch dimension.
    public static func concatenatingRows(_ parts: [Tensor]) -> Tensor {
        precondition(!parts.isEmpty, "nothing to concatenate")
        let sample = parts[0].sampleShape
        var out = [Float]()
        out.reserveCapacity(parts.reduce(0) { $0 + $1.count })
        var batch = 0
        for part in parts {
            precondition(part.sampleShape == sample, "sample shape \(part.sampleShape) differs from \(sample)")
            out.append(contentsOf: part.scalars)
            batch += part.batchSize
        }
        return Tensor(shape: [batch] + sample, scalars: out)
    }
}
