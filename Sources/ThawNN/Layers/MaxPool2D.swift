/// Max pooling over NCHW batches; backward routes each output gradient to the input that won its window.
///
/// The output, the winners and the input gradient are the layer's buffers, reused from step to step.
public final class MaxPool2D: Layer {
    public let size: Int
    public let stride: Int
    private var cachedInputShape: [Int]?
    private var lastInputShape: [Int] = []
    private var outputShape: [Int] = []
    private var output = Tensor.unsized
    private var inputGradient = Tensor.unsized
    /// For every output value, the flat index of the winning input value.
    private var cachedArgmax: [Int32] = []

    public init(size: Int, stride: Int) {
        precondition(size > 0 && stride > 0, "MaxPool2D needs positive size and stride")
        self.size = size
        self.stride = stride
    }

    public var parameterRange: Range<Int> { 0..<0 }

    // x: [batch, C, H, W] → y: [batch, C, (H−size)/stride+1, (W−size)/stride+1]
    public func forward(_ x: Tensor, training: Bool) -> Tensor {
        if x.shape != lastInputShape {
            precondition(x.shape.count == 4 && x.shape[2] >= size && x.shape[3] >= size, "MaxPool2D got \(x.shape)")
            precondition(x.count <= Int(Int32.max), "MaxPool2D input too large for Int32 indices")
            lastInputShape = x.shape
            outputShape = [x.shape[0], x.shape[1], (x.shape[2] - size) / stride + 1, (x.shape[3] - size) / stride + 1]
        }
        let (planes, h, w) = (x.shape[0] &* x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow, k, s) = (outputShape[2], outputShape[3], size, stride)
        output.prepare(outputShape)
        if training && cachedArgmax.count != output.count {
            cachedArgmax = [Int32](repeating: 0, count: output.count)
        }
        x.scalars.withUnsafeBufferPointer { inputBuffer in
            output.scalars.withUnsafeMutableBufferPointer { outBuffer in
                cachedArgmax.withUnsafeMutableBufferPointer { winnersBuffer in
                    let (input, out) = (inputBuffer.baseAddress!, outBuffer.baseAddress!)
                    let winners = winnersBuffer.baseAddress
                    if k == 2 && s == 2 {
                        // The FedAvg CNN's pooling: four loads per output, same tie rule (first maximum wins).
                        for plane in 0..<planes {
                            let base = plane &* h &* w
                            for oy in 0..<oh {
                                let top = base &+ (oy &* 2) &* w
                                let o = (plane &* oh &+ oy) &* ow
                                for ox in 0..<ow {
                                    let first = top &+ ox &* 2
                                    var best = first
                                    var bestValue = input[first]
                                    let v1 = input[first &+ 1]
                                    if v1 > bestValue { best = first &+ 1; bestValue = v1 }
                                    let v2 = input[first &+ w]
                                    if v2 > bestValue { best = first &+ w; bestValue = v2 }
                                    let v3 = input[first &+ w &+ 1]
                                    if v3 > bestValue { best = first &+ w &+ 1; bestValue = v3 }
                                    out[o &+ ox] = bestValue
                                    if training { winners![o &+ ox] = Int32(truncatingIfNeeded: best) }
                                }
                            }
                        }
                        return
                    }
                    for plane in 0..<planes {
                        let base = plane &* h &* w
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                var best = base &+ (oy &* s) &* w &+ ox &* s
                                var bestValue = input[best]
                                for ky in 0..<k {
                                    let row = base &+ (oy &* s &+ ky) &* w &+ ox &* s
                                    for kx in 0..<k where input[row &+ kx] > bestValue {
                                        best = row &+ kx
                                        bestValue = input[best]
                                    }
                                }
                                let o = (plane &* oh &+ oy) &* ow &+ ox
                                out[o] = bestValue
                                if training { winners![o] = Int32(truncatingIfNeeded: best) }
                            }
                        }
                    }
                }
            }
        }
        cachedInputShape = training ? lastInputShape : nil
        return output
    }

    // dy: [batch, C, OH, OW] → dx: [batch, C, H, W], zero except at each window's maximum.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let shape = cachedInputShape else { preconditionFailure("MaxPool2D.backward without a training forward") }
        cachedInputShape = nil
        precondition(dy.shape == outputShape && dy.count == cachedArgmax.count, "MaxPool2D.backward: dy \(dy.shape)")
        guard needsInputGradient else { return nil }
        inputGradient.prepare(shape, zeroed: true)
        inputGradient.scalars.withUnsafeMutableBufferPointer { out in
            dy.scalars.withUnsafeBufferPointer { d in
                cachedArgmax.withUnsafeBufferPointer { winners in
                    let (target, gradient, index) = (out.baseAddress!, d.baseAddress!, winners.baseAddress!)
                    for i in 0..<d.count { target[Int(index[i])] += gradient[i] }
                }
            }
        }
        return inputGradient
    }
}
