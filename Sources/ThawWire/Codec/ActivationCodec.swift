/// Float activations ⇄ the bytes of a FLOAT32, FLOAT16 or INT8_ROW_SCALED frame.
///
/// A receiver decodes once, on arrival, back to float32: everything after the codec (the worker's
/// checks, the registry's store, training) sees floats and never the encoding. The layouts, rounding
/// and refusals are specified in docs/PROTOCOL.md ("Activation encodings"); this file is the reference
/// implementation of that text, and the unit tests pin both.
public enum ActivationCodec {
    /// The largest finite binary16 value; larger magnitudes saturate to it instead of becoming infinite.
    static let float16Max: Float = 65504

    /// The encoded bytes of `tensor` (rows = dimension 0). Its values must be finite: the wire codec
    /// refuses a non-finite activation before it gets here.
    public static func encode(_ tensor: WireTensor, as encoding: ActivationEncoding) -> [UInt8] {
        let rows = tensor.shape[0]
        let perRow = rows == 0 ? 0 : tensor.scalars.count / rows
        switch encoding {
        case .float32:
            return TensorFrame.bytes(of: tensor.scalars)
        case .float16:
            return [UInt8](unsafeUninitializedCapacity: tensor.scalars.count * 2) { buffer, initialized in
                for (index, value) in tensor.scalars.enumerated() {
                    let bits = half(value).bitPattern
                    buffer[2 * index] = UInt8(truncatingIfNeeded: bits)
                    buffer[2 * index + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                }
                initialized = tensor.scalars.count * 2
            }
        case .int8:
            let total = encoding.byteCount(rows: rows, valuesPerRow: perRow)
            return [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
                tensor.scalars.withUnsafeBufferPointer { scalars in
                    for row in 0..<rows {
                        let values = UnsafeBufferPointer(rebasing: scalars[(row * perRow)..<((row + 1) * perRow)])
                        let scale = rowScale(values)
                        let scaleBits = scale.bitPattern
                        for byte in 0..<4 { buffer[4 * row + byte] = UInt8(truncatingIfNeeded: scaleBits >> (8 * byte)) }
                        let base = 4 * rows + row * perRow
                        for (index, value) in values.enumerated() {
                            buffer[base + index] = UInt8(bitPattern: quantize(value, scale: scale))
                        }
                    }
                }
                initialized = total
            }
        }
    }

    /// `tensor` as a receiver sees it after `encoding` (encode, then decode): what training gets.
    public static func roundTrip(_ tensor: WireTensor, as encoding: ActivationEncoding) -> WireTensor {
        guard encoding != .float32 else { return tensor }
        let bytes = encode(tensor, as: encoding)
        // The bytes came from our own encoder over finite values, so decoding cannot fail.
        let scalars = try! decode(bytes, shape: tensor.shape, encoding: encoding, label: "round trip")
        return WireTensor(validatedShape: tensor.shape, scalars: scalars)
    }

    /// The float32 values of a frame whose length the descriptor check already matched to `shape`.
    /// - Throws: ``WireError`` `.nonFiniteValue` for a NaN or infinite float16 or int8 scale,
    ///   `.invalidField` for a negative scale, a scale so large that 127 × scale overflows, or an int8 of -128.
    static func decode(
        _ frame: [UInt8], shape: [Int], encoding: ActivationEncoding, label: String
    ) throws(WireError) -> [Float] {
        let rows = shape[0]
        let count = shape.reduce(1, *)
        let perRow = rows == 0 ? 0 : count / rows
        switch encoding {
        case .float32:
            let scalars = TensorFrame.scalars(from: frame)
            if let bad = TensorFrame.firstNonFinite(in: scalars) {
                throw WireError(.nonFiniteValue, "\(label): element \(bad) is \(scalars[bad])")
            }
            return scalars
        case .float16:
            var scalars = [Float](repeating: 0, count: count)
            var bad: Int?
            frame.withUnsafeBufferPointer { bytes in
                scalars.withUnsafeMutableBufferPointer { out in
                    for index in 0..<count {
                        let bits = UInt16(bytes[2 * index]) | UInt16(bytes[2 * index + 1]) << 8
                        // Exponent all ones: infinity or NaN.
                        if bits & 0x7C00 == 0x7C00, bad == nil { bad = index }
                        out[index] = Float(Float16(bitPattern: bits))
                    }
                }
            }
            if let bad {
                throw WireError(.nonFiniteValue, "\(label): float16 element \(bad) is not finite")
            }
            return scalars
        case .int8:
            var scales = [Float](repeating: 0, count: rows)
            for row in 0..<rows {
                var bits: UInt32 = 0
                for byte in 0..<4 { bits |= UInt32(frame[4 * row + byte]) << (8 * byte) }
                let scale = Float(bitPattern: bits)
                guard scale.isFinite else {
                    throw WireError(.nonFiniteValue, "\(label): the int8 scale of row \(row) is \(scale)")
                }
                guard scale >= 0, (scale * 127).isFinite else {
                    throw WireError(
                        .invalidField, "\(label): the int8 scale of row \(row) is \(scale), outside [0, Float.max / 127]")
                }
                scales[row] = scale
            }
            var scalars = [Float](repeating: 0, count: count)
            var bad: Int?
            frame.withUnsafeBufferPointer { bytes in
                scalars.withUnsafeMutableBufferPointer { out in
                    for row in 0..<rows {
                        let scale = scales[row]
                        let base = 4 * rows + row * perRow
                        for index in 0..<perRow {
                            let q = Int8(bitPattern: bytes[base + index])
                            if q == .min, bad == nil { bad = row * perRow + index }
                            out[row * perRow + index] = Float(q) * scale
                        }
                    }
                }
            }
            if let bad {
                throw WireError(.invalidField, "\(label): int8 element \(bad) is -128, which the encoding never uses")
            }
            return scalars
        }
    }

    /// binary16 of `value`, round to nearest even, saturating at ±65504.
    @inline(__always)
    static func half(_ value: Float) -> Float16 {
        Float16(min(max(value, -float16Max), float16Max))
    }

    /// maxAbs / 127 of one row, in float32 (0 for an all-zero row).
    @inline(__always)
    static func rowScale(_ values: UnsafeBufferPointer<Float>) -> Float {
        var maxAbs: Float = 0
        for value in values { maxAbs = max(maxAbs, abs(value)) }
        return maxAbs / 127
    }

    /// round-to-nearest-even(value / scale), clamped to [-127, 127]; 0 when the scale is 0.
    @inline(__always)
    static func quantize(_ value: Float, scale: Float) -> Int8 {
        guard scale > 0 else { return 0 }
        let q = (value / scale).rounded(.toNearestOrEven)
        return Int8(min(max(q, -127), 127))
    }
}
