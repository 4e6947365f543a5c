/// Float32 tensors ⇄ raw little-endian frames.
///
/// On a little-endian host (every Thaw target) encoding is one copy of the `Float` storage and decoding
/// one copy into a fresh array; a big-endian host swaps each element's bit pattern, so the wire format
/// stays little-endian everywhere.
package enum TensorFrame {
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

    /// Whether `scalars` are exactly the floats `frame` carries (bit for bit, little-endian on the wire).
    ///
    /// Compared eight bytes at a time, a 4 KiB block per step so that unequal arrays (different heads
    /// differ in their first values) stop early; equal 6.4 MB take well under a millisecond.
    package static func holds(_ frame: [UInt8], _ scalars: [Float]) -> Bool {
        guard frame.count == scalars.count * MemoryLayout<Float>.size else { return false }
        #if _endian(little)
            return frame.withUnsafeBytes { bytes in
                scalars.withUnsafeBytes { floats in
                    let words = bytes.count / 8
                    var word = 0
                    while word < words {
                        let end = min(word + 512, words)
                        var difference: UInt64 = 0
                        for index in word..<end {
                            difference |= bytes.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
                                ^ floats.loadUnaligned(fromByteOffset: index &* 8, as: UInt64.self)
                        }
                        if difference != 0 { return false }
                        word = end
                    }
                    for index in (words * 8)..<bytes.count where bytes[index] != floats[index] { return false }
                    return true
                }
            }
        #else
            return TensorFrame.scalars(from: frame).map(\.bitPattern) == scalars.map(\.bitPattern)
        #endif
    }

    /// The index of the first NaN or infinity, if any.
    ///
    /// Fast path: `x * 0` is 0 for a finite `x` and NaN otherwise, so a sum of those over 16 lanes at a
    /// time is 0 exactly when every value is finite. The lanes make it vector code (a scalar running sum
    /// is one dependent add per value, about 3 ms for a 6.4 MB head); only a non-finite value pays the exact scan.
    package static func firstNonFinite(in scalars: [Float]) -> Int? {
        scalars.withUnsafeBufferPointer { buffer in
            var lanes = SIMD16<Float>(repeating: 0)
            let whole = buffer.count / 16 * 16
            if let base = buffer.baseAddress, whole > 0 {
                UnsafeRawPointer(base).withMemoryRebound(to: SIMD16<Float>.self, capacity: whole / 16) { vectors in
                    for index in 0..<(whole / 16) { lanes += vectors[index] * 0 }
                }
            }
            var sum = lanes.sum()
            for index in whole..<buffer.count { sum += buffer[index] * 0 }
            if sum == 0 { return nil }
            return buffer.firstIndex { !$0.isFinite }
        }
    }
}
