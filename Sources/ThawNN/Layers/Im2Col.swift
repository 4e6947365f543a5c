/// The image-to-columns rearrangement that turns a convolution into one GEMM per sample.
///
/// For one sample `[C, H, W]`, the column matrix is `[C·K·K, OH·OW]`: row (c·K + ki)·K + kj, column oh·OW + ow
/// holds x[c, oh·stride − padding + ki, ow·stride − padding + kj], or 0 where that falls in the padding.
public struct Im2Col: Sendable, Hashable {
    public let channels: Int
    public let height: Int
    public let width: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int

    public init(channels: Int, height: Int, width: Int, kernel: Int, stride: Int, padding: Int) {
        precondition(channels > 0 && height > 0 && width > 0 && kernel > 0 && stride > 0 && padding >= 0)
        precondition(height + 2 * padding >= kernel && width + 2 * padding >= kernel, "kernel larger than image")
        self.channels = channels
        self.height = height
        self.width = width
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
    }

    public var outputHeight: Int { (height + 2 * padding - kernel) / stride + 1 }
    public var outputWidth: Int { (width + 2 * padding - kernel) / stride + 1 }
    /// C·K·K, the GEMM's inner dimension.
    public var rows: Int { channels * kernel * kernel }
    /// OH·OW, one column per output pixel.
    public var columns: Int { outputHeight * outputWidth }

    /// Writes the column matrix of the image at `image` into `columnsOut` (`rows × columns` values).
    public func expand(_ image: UnsafePointer<Float>, into columnsOut: UnsafeMutablePointer<Float>) {
        let (oh, ow, k, s, p, h, w) = (outputHeight, outputWidth, kernel, stride, padding, height, width)
        var row = 0
        for c in 0..<channels {
            let plane = image + c &* h &* w
            for ki in 0..<k {
                for kj in 0..<k {
                    let out = columnsOut + row &* oh &* ow
                    for y in 0..<oh {
                        let iy = y &* s &- p &+ ki
                        let line = out + y &* ow
                        if iy < 0 || iy >= h {
                            line.update(repeating: 0, count: ow)
                            continue
                        }
                        let source = plane + iy &* w
                        for x in 0..<ow {
                            let ix = x &* s &- p &+ kj
                            line[x] = (ix >= 0 && ix < w) ? source[ix] : 0
                        }
                    }
                    row &+= 1
                }
            }
        }
    }

    /// Adds the column matrix at `columnsIn` back onto the image gradient at `image` (the adjoint of ``expand``).
    public func accumulate(_ columnsIn: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        let (oh, ow, k, s, p, h, w) = (outputHeight, outputWidth, kernel, stride, padding, height, width)
        var row = 0
        for c in 0..<channels {
            let plane = image + c &* h &* w
            for ki in 0..<k {
                for kj in 0..<k {
                    let source = columnsIn + row &* oh &* ow
                    for y in 0..<oh {
                        let iy = y &* s &- p &+ ki
                        if iy < 0 || iy >= h { continue }
                        let target = plane + iy &* w
                        let line = source + y &* ow
                        for x in 0..<ow {
                            let ix = x &* s &- p &+ kj
                            if ix >= 0 && ix < w { target[ix] += line[x] }
                        }
                    }
                    row &+= 1
                }
            }
        }
    }
}
