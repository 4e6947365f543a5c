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

    /// The output columns `x` whose input column `x·stride − padding + kj` lies inside the image.
    @inline(__always)
    func validColumns(kj: Int) -> Range<Int> {
        let (s, p, w, ow) = (stride, padding, width, outputWidth)
        // x·s − p + kj ≥ 0  ⇔  x ≥ ⌈(p − kj)/s⌉;  x·s − p + kj ≤ w − 1  ⇔  x ≤ ⌊(w − 1 + p − kj)/s⌋
        let low = p &- kj <= 0 ? 0 : (p &- kj &+ s &- 1) / s
        let top = w &- 1 &+ p &- kj
        let high = top < 0 ? 0 : min(ow, top / s &+ 1)
        return min(low, high)..<high
    }

    /// Writes the column matrix of the image at `image` into `columnsOut` (`rows × columns` values).
    public func expand(_ image: UnsafePointer<Float>, into columnsOut: UnsafeMutablePointer<Float>) {
        expand(image, into: columnsOut, rowStride: columns)
    }

    /// Writes the column matrix of one image into `columnsOut`, whose rows are `rowStride` apart.
    ///
    /// With `rowStride = nb·columns` and `columnsOut` advanced by `i·columns` for sample i, the columns of a
    /// block of nb samples sit side by side: the `[C·K·K, nb·OH·OW]` matrix of one GEMM per block.
    ///
    /// With `paddingIsZero`, positions that fall in the padding are not written: the caller guarantees they
    /// already hold zero (a column buffer reused with the same layout).
    public func expand(
        _ image: UnsafePointer<Float>, into columnsOut: UnsafeMutablePointer<Float>, rowStride: Int,
        paddingIsZero: Bool = false
    ) {
        precondition(rowStride >= columns, "rowStride \(rowStride) below \(columns) columns")
        let (oh, ow, k, s, p, h, w) = (outputHeight, outputWidth, kernel, stride, padding, height, width)
        var row = 0
        for c in 0..<channels {
            let plane = image + c &* h &* w
            for ki in 0..<k {
                for kj in 0..<k {
                    let out = columnsOut + row &* rowStride
                    let valid = validColumns(kj: kj)
                    let shift = kj &- p
                    for y in 0..<oh {
                        let iy = y &* s &- p &+ ki
                        let line = out + y &* ow
                        if iy < 0 || iy >= h {
                            if !paddingIsZero { line.update(repeating: 0, count: ow) }
                            continue
                        }
                        let source = plane + (iy &* w &+ shift)
                        if valid.lowerBound > 0 && !paddingIsZero { line.update(repeating: 0, count: valid.lowerBound) }
                        if s == 1 {
                            (line + valid.lowerBound).update(from: source + valid.lowerBound, count: valid.count)
                        } else {
                            for x in valid { line[x] = source[x &* s] }
                        }
                        if valid.upperBound < ow && !paddingIsZero {
                            (line + valid.upperBound).update(repeating: 0, count: ow &- valid.upperBound)
                        }
                    }
                    row &+= 1
                }
            }
        }
    }

    /// Adds the column matrix at `columnsIn` back onto the image gradient at `image` (the adjoint of ``expand``).
    public func accumulate(_ columnsIn: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>) {
        accumulate(columnsIn, rowStride: columns, into: image)
    }

    /// The adjoint of ``expand(_:into:rowStride:)``: adds one sample's columns (rows `rowStride` apart) onto
    /// its image gradient.
    public func accumulate(_ columnsIn: UnsafePointer<Float>, rowStride: Int, into image: UnsafeMutablePointer<Float>) {
        precondition(rowStride >= columns, "rowStride \(rowStride) below \(columns) columns")
        let (oh, ow, k, s, p, h, w) = (outputHeight, outputWidth, kernel, stride, padding, height, width)
        var row = 0
        for c in 0..<channels {
            let plane = image + c &* h &* w
            for ki in 0..<k {
                for kj in 0..<k {
                    let source = columnsIn + row &* rowStride
                    let valid = validColumns(kj: kj)
                    let shift = kj &- p
                    for y in 0..<oh {
                        let iy = y &* s &- p &+ ki
                        if iy < 0 || iy >= h { continue }
                        let target = plane + (iy &* w &+ shift)
                        let line = source + y &* ow
                        if s == 1 {
                            for x in valid { target[x] += line[x] }
                        } else {
                            for x in valid { target[x &* s] += line[x] }
                        }
                    }
                    row &+= 1
                }
            }
        }
    }
}
