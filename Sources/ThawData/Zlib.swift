import CZlib

/// One-shot zlib compression, shared by the gzip fixtures of the IDX reader and the head deltas of the
/// registry (which differ only in the stream's wrapper).
package enum Zlib {
    /// The header and trailer around the deflate data.
    package enum Wrapper {
        /// RFC 1950: a 2-byte header and an Adler-32 trailer.
        case zlib
        /// RFC 1952: one gzip member (mtime 0).
        case gzip

        var windowBits: Int32 { self == .gzip ? 16 + MAX_WBITS : MAX_WBITS }
    }

    /// `input` compressed as one stream in `wrapper`, or nil when zlib fails.
    package static func deflate(_ input: [UInt8], level: Int32, wrapper: Wrapper) -> [UInt8]? {
        var stream = z_stream()
        // deflateInit2 is a macro, hence the _ form.
        guard
            deflateInit2_(
                &stream, level, Z_DEFLATED, wrapper.windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(),
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        let ok: Bool = input.withUnsafeBufferPointer { inBuf in
            output.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress)
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return CZlib.deflate(&stream, Z_FINISH) == Z_STREAM_END
            }
        }
        guard ok else { return nil }
        return Array(output[0..<Int(stream.total_out)])
    }
}
