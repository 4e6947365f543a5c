import CZlib
import ThawData

/// A head download that costs what changed: the `head_delta` frame of a `HEAD_DELTA` reply
/// (docs/PROTOCOL.md, "Head deltas").
///
/// Encoding `XOR_DEFLATE`, for a base head `b` and a new head `n` of the same length `P`:
/// 1. `x_i = bits(n_i) XOR bits(b_i)`, the float32 bit patterns as little-endian UInt32;
/// 2. byte planes: all `P` low bytes of `x` (byte 0 of each word), then all byte 1s, byte 2s, byte 3s
///    (`4·P` bytes); a parameter that did not change is four zero bytes, and one that moved a little
///    differs mostly in its low mantissa bytes, so each plane is uniform enough for deflate;
/// 3. one zlib stream (RFC 1950: deflate with a 2-byte header and an Adler-32 trailer) of those bytes.
///
/// The delta is lossless: applying it gives the new head's exact bits, so the receiver can check the
/// result against the announced SHA-256 `head_hash` before it swaps the head in.
///
/// Pure functions; safe on any thread. Encoding and decoding 6.4 MB (1.6 M parameters) take tens of
/// milliseconds, so nodes run them on a storage or compute thread, never on a socket loop.
public enum HeadDelta {
    /// Why a delta could not be applied. The phone then asks for the full head.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        public enum Code: String, Hashable, Sendable {
            /// The frame is not a valid zlib stream (bad header, corrupt data, wrong Adler-32).
            case corrupt
            /// The stream inflates to another length than 4 × the base head's parameter count, or bytes
            /// follow the stream's end.
            case wrongLength
            /// The result holds NaN or ±infinity (never a head: the wire refuses them).
            case nonFinite
            /// The base's and the new head's parameter counts differ (encoding only).
            case countMismatch
        }

        public var code: Code
        public var detail: String

        public init(_ code: Code, _ detail: String) {
            self.code = code
            self.detail = detail
        }

        public var description: String { "\(code.rawValue): \(detail)" }
    }

    /// The `head_delta` frame that turns `base` into `target`.
    ///
    /// - Parameter level: zlib compression level (1 fastest … 9 smallest; 6 is zlib's default).
    /// - Throws: ``Failure`` `.countMismatch` when the lengths differ.
    public static func encode(base: [Float], target: [Float], level: Int32 = 6) throws(Failure) -> [UInt8] {
        guard base.count == target.count else {
            throw Failure(.countMismatch, "base has \(base.count) parameters, target \(target.count)")
        }
        let planes = xorPlanes(base, target)
        guard let compressed = Zlib.deflate(planes, level: level, wrapper: .zlib) else {
            throw Failure(.corrupt, "zlib deflate failed")
        }
        return compressed
    }

    /// Applies `delta` to `base`.
    ///
    /// - Returns: the new head's parameters, bit for bit.
    /// - Throws: ``Failure`` `.corrupt`, `.wrongLength` or `.nonFinite`; the caller must then not use
    ///   anything of it (and a phone asks for the full head).
    public static func apply(_ delta: [UInt8], to base: [Float]) throws(Failure) -> [Float] {
        let count = base.count
        let planes = try inflate(delta, expectedBytes: 4 * count)
        var result = [Float](repeating: 0, count: count)
        planes.withUnsafeBufferPointer { p in
            base.withUnsafeBufferPointer { b in
                result.withUnsafeMutableBufferPointer { r in
                    for i in 0..<count {
                        let x =
                            UInt32(p[i]) | UInt32(p[count &+ i]) &<< 8 | UInt32(p[2 &* count &+ i]) &<< 16
                            | UInt32(p[3 &* count &+ i]) &<< 24
                        r[i] = Float(bitPattern: b[i].bitPattern ^ x)
                    }
                }
            }
        }
        if let bad = result.firstIndex(where: { !$0.isFinite }) {
            throw Failure(.nonFinite, "parameter \(bad) would be \(result[bad])")
        }
        return result
    }

    /// The XOR words of `a` and `b` as four byte planes (step 1 and 2 of the encoding).
    static func xorPlanes(_ a: [Float], _ b: [Float]) -> [UInt8] {
        let count = a.count
        var planes = [UInt8](repeating: 0, count: 4 * count)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                planes.withUnsafeMutableBufferPointer { p in
                    for i in 0..<count {
                        let x = a[i].bitPattern ^ b[i].bitPattern
                        p[i] = UInt8(truncatingIfNeeded: x)
                        p[count &+ i] = UInt8(truncatingIfNeeded: x &>> 8)
                        p[2 &* count &+ i] = UInt8(truncatingIfNeeded: x &>> 16)
                        p[3 &* count &+ i] = UInt8(truncatingIfNeeded: x &>> 24)
                    }
                }
            }
        }
        return planes
    }

    /// Inflates one zlib stream that must produce exactly `expectedBytes` and end the input.
    private static func inflate(_ input: [UInt8], expectedBytes: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(.corrupt, "inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        // One byte of room beyond the expected length: a stream that fills it is too long.
        var output = [UInt8](repeating: 0, count: expectedBytes + 1)
        let status: Int32 = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        let produced = Int(stream.total_out)
        switch status {
        case Z_STREAM_END:
            guard produced == expectedBytes else {
                throw Failure(.wrongLength, "inflates to \(produced) bytes, expected \(expectedBytes)")
            }
            guard stream.avail_in == 0 else {
                throw Failure(.wrongLength, "\(stream.avail_in) bytes follow the end of the zlib stream")
            }
        case Z_BUF_ERROR where produced > expectedBytes:
            throw Failure(.wrongLength, "inflates to more than \(expectedBytes) bytes")
        case Z_BUF_ERROR:
            throw Failure(.wrongLength, "the zlib stream ends early (\(produced) of \(expectedBytes) bytes)")
        default:
            throw Failure(.corrupt, "the zlib stream is corrupt (zlib status \(status))")
        }
        output.removeLast()
        return output
    }
}
