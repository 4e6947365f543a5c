/// One split of handwriting data (for example MNIST `train` or `t10k`): images, digit labels and
/// the NIST writer id of every sample, index-aligned.
public struct HandwritingSamples: Sendable, Equatable {
    /// Image height and width in pixels (28 for MNIST).
    public let rows: Int
    public let columns: Int
    /// All images, row-major, `count * rows * columns` bytes (0 = background, 255 = ink).
    public let pixels: [UInt8]
    /// Digit labels 0...9.
    public let labels: [UInt8]
    /// NIST writer id of each sample.
    public let writers: [UInt16]

    /// Builds a split from validated arrays; `validated(...)` checks untrusted input.
    public init(rows: Int, columns: Int, pixels: [UInt8], labels: [UInt8], writers: [UInt16]) {
        precondition(pixels.count == labels.count * rows * columns && labels.count == writers.count,
                     "HandwritingSamples: images, labels and writers disagree")
        self.rows = rows
        self.columns = columns
        self.pixels = pixels
        self.labels = labels
        self.writers = writers
    }

    public var count: Int { labels.count }
    public var pixelsPerImage: Int { rows * columns }

    /// The pixels of sample `index`.
    public func image(at index: Int) -> ArraySlice<UInt8> {
        pixels[index * pixelsPerImage..<(index + 1) * pixelsPerImage]
    }

    /// The distinct writer ids, ascending.
    public var writerIDs: [UInt16] { Array(Set(writers)).sorted() }

    /// Sample indices of each writer, in file order.
    public var indicesByWriter: [UInt16: [Int]] {
        var out: [UInt16: [Int]] = [:]
        for (i, w) in writers.enumerated() { out[w, default: []].append(i) }
        return out
    }

    /// The samples at `indices`, in that order.
    public func subset(_ indices: [Int]) -> HandwritingSamples {
        var px: [UInt8] = []
        px.reserveCapacity(indices.count * pixelsPerImage)
        for i in indices { px.append(contentsOf: image(at: i)) }
        return HandwritingSamples(rows: rows, columns: columns, pixels: px,
                                  labels: indices.map { labels[$0] }, writers: indices.map { writers[$0] })
    }

    /// The samples of the given writers, in file order.
    public func samples(ofWriters ids: Set<UInt16>) -> HandwritingSamples {
        subset(writers.indices.filter { ids.contains(writers[$0]) })
    }

    /// Images at `indices` as floats in [0, 1] (pixel / 255), concatenated: the layout of an
    /// `[n, 1, rows, columns]` tensor.
    public func floatPixels(_ indices: [Int]) -> [Float] {
        var out = [Float](repeating: 0, count: indices.count * pixelsPerImage)
        let scale: Float = 1 / 255
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for (k, i) in indices.enumerated() {
                    let s = i &* pixelsPerImage
                    let d = k &* pixelsPerImage
                    for p in 0..<pixelsPerImage { dst[d &+ p] = Float(src[s &+ p]) * scale }
                }
            }
        }
        return out
    }

    /// Labels at `indices` as `Int`.
    public func intLabels(_ indices: [Int]) -> [Int] { indices.map { Int(labels[$0]) } }
}

extension HandwritingSamples {
    /// Checks three parsed IDX files against each other and builds the split.
    /// - Throws: `DataError` with `.wrongType`, `.dimensionMismatch`, `.countMismatch` or `.invalidValue`.
    public static func validated(images: IDXFile, labels: IDXFile, writers: IDXFile,
                                 paths: (images: String, labels: String, writers: String)) throws(DataError) -> HandwritingSamples {
        guard images.elementType == .unsignedByte else {
            throw DataError(.wrongType, path: paths.images, reason: "images must be unsigned bytes (0x08)")
        }
        guard labels.elementType == .unsignedByte else {
            throw DataError(.wrongType, path: paths.labels, reason: "labels must be unsigned bytes (0x08)")
        }
        guard writers.elementType == .short else {
            throw DataError(.wrongType, path: paths.writers, reason: "writer ids must be 16-bit (0x0B)")
        }
        guard images.dimensions.count == 3, images.dimensions[1] > 0, images.dimensions[2] > 0 else {
            throw DataError(.dimensionMismatch, path: paths.images, reason: "images need 3 dimensions [n, rows, columns], got \(images.dimensions)")
        }
        guard labels.dimensions.count == 1 else {
            throw DataError(.dimensionMismatch, path: paths.labels, reason: "labels need 1 dimension, got \(labels.dimensions)")
        }
        guard writers.dimensions.count == 1 else {
            throw DataError(.dimensionMismatch, path: paths.writers, reason: "writer ids need 1 dimension, got \(writers.dimensions)")
        }
        let n = images.dimensions[0]
        guard labels.dimensions[0] == n, writers.dimensions[0] == n else {
            throw DataError(.countMismatch, path: paths.images,
                            reason: "\(n) images, \(labels.dimensions[0]) labels, \(writers.dimensions[0]) writer ids")
        }
        if let bad = labels.payload.firstIndex(where: { $0 > 9 }) {
            throw DataError(.invalidValue, path: paths.labels, reason: "label \(labels.payload[bad]) at index \(bad) is not a digit")
        }
        return HandwritingSamples(rows: images.dimensions[1], columns: images.dimensions[2],
                                  pixels: images.unsignedBytes, labels: labels.unsignedBytes, writers: writers.shorts)
    }
}
