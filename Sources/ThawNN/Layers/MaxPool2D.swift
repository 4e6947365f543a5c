/// Max pooling over NCHW batches; backward routes each output gradient to the input that won its window.
public final class MaxPool2D: Layer {
    public let size: Int
    public let stride: Int
    private var cachedInputShape: [Int]?
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
        precondition(x.shape.count == 4 && x.shape[2] >= size && x.shape[3] >= size, "MaxPool2D got \(x.shape)")
        let (planes, h, w) = (x.shape[0] * x.shape[1], x.shape[2], x.shape[3])
        let (oh, ow, k, s) = ((h - size) / stride + 1, (w - size) / stride + 1, size, stride)
        var y = Tensor.zeros([x.shape[0], x.shape[1], oh, ow])
        var argmax = [Int32](repeating: 0, count: training ? y.count : 0)
        precondition(x.count <= Int(Int32.max), "MaxPool2D input too large for Int32 indices")
        x.scalars.withUnsafeBufferPointer { input in
            y.scalars.withUnsafeMutableBufferPointer { out in
                argmax.withUnsafeMutableBufferPointer { winners in
                    for plane in 0..<planes {
                        let base = plane &* h &* w
                        for oy in 0..<oh {
                            for ox in 0..<ow {
                                var best = base &+ (oy &* s) &* w &+ ox &* s
                                for ky in 0..<k {
                                    let row = base &+ (oy &* s &+ ky) &* w &+ ox &* s
                                    for kx in 0..<k where input[row &+ kx] > input[best] { best = row &+ kx }
                                }
                                let o = (plane &* oh &+ oy) &* ow &+ ox
                                out[o] = input[best]
                                if training { winners[o] = Int32(truncatingIfNeeded: best) }
                            }
                        }
                    }
                }
            }
        }
        cachedInputShape = training ? x.shape : nil
        cachedArgmax = argmax
        return y
    }

    // dy: [batch, C, OH, OW] → dx: [batch, C, H, W], zero except at each window's maximum.
    public func backward(_ dy: Tensor, needsInputGradient: Bool) -> Tensor? {
        guard let shape = cachedInputShape else { preconditionFailure("MaxPool2D.backward without a training forward") }
        precondition(dy.count == cachedArgmax.count, "MaxPool2D.backward: dy \(dy.shape)")
        guard needsInputGradient else { return nil }
        var dx = Tensor.zeros(shape)
        dx.scalars.withUnsafeMutableBufferPointer { out in
            dy.scalars.withUnsafeBufferPointer { d in
                cachedArgmax.withUnsafeBufferPointer { winners in
                    for i in 0..<d.count { out[Int(winners[i])] += d[i] }
                }
            }
        }
        return dx
    }
}
