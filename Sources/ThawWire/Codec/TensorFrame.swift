/// Float32 tensors ⇄ raw little-endian frames.
///
/// On a little-endian host (every Thaw target) encoding is one copy of the `Float` storage and decoding
/// one copy into a fresh array; a big-endian host swaps each element's bit pattern, so the wire format
/// stays little-endian everywhere.
enum TensorFrame {
    /// The little-endian bytes of `scalars`.
    static func bytes(of scalars: [Float]) -> [UInt8] {
        #if _endian(little)
            return scalars.withUnsafeBytes { Array($0) }
        #else
            let swapped = scalars.map { Float(bitPattern: $0.bitPattern.littleEndian) }
            return swapped.withUnsafeBytes { Array($0) }
        #endif
    }

    /// The floats in `frame`, whose size is a multiple of 4 (checked by the caller).
    static func scalars(from frame: [UInt8]) -> [Float] {
        let count = frame.count / MemoryLayout<Float>.size
        let scalars = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            frame.withUnsafeBytes { source in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: source)
            }
            initialized = count
        }
        #if _endian(little)
            return scalars
        #else
            return scalars.map { Float(bitPattern: UInt32(littleEndian: $0.bitPattern)) }
        #endif
    }

    /// The index of the first NaN or infinity, if any.
    static func firstNonFinite(in scalars: [Float]) -> Int? {
        scalars.withUnsafeBufferPointer { buffer in
            // Fast path: a finite sum over finite values proves all are finite (no branch per element);
            // an overflowing sum or a non-finite element falls through to the exact scan.
            var sum: Float = 0
            for value in buffer { sum += value * 0 }
            if sum == 0 { return nil }
            return buffer.firstIndex { !$0.isFinite }
        }
    }
}
