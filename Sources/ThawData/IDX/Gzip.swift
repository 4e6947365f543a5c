import CZlib

/// gzip (RFC 1952) through zlib. Foundation on Linux cannot inflate gzip, and the full MNIST training
/// images ship gzipped, so the IDX reader inflates them itself.
enum Gzip {
    /// True when `bytes` starts with the gzip magic 1f 8b.
    static func isCompressed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B
    }

    /// Inflates a gzip stream (several concatenated members are allowed, as `gzip` itself does).
    static func inflate(_ input: [UInt8], path: String) throws(DataError) -> [UInt8] {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header and trailer (inflateInit2 is a macro, hence the _ form).
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError(.decompression, path: path, reason: "inflateInit2 failed")
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        output.reserveCapacity(input.count * 4)
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        var status: Int32 = Z_OK
        input.withUnsafeBufferPointer { inBuf in
            let base = UnsafeMutablePointer(mutating: inBuf.baseAddress)
            stream.next_in = base
            stream.avail_in = UInt32(inBuf.count)
            while true {
                let produced: Int = chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return outBuf.count - Int(stream.avail_out)
                }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_STREAM_END {
                    // Another gzip member may follow; anything else after the end is an error below.
                    if stream.avail_in > 0, inflateReset(&stream) == Z_OK { continue }
                    break
                }
                if status != Z_OK { break }
                if stream.avail_in == 0 && produced == 0 { break }
            }
        }
        guard status == Z_STREAM_END else {
            if status == Z_OK || status == Z_BUF_ERROR {
                throw DataError(.truncated, path: path, reason: "gzip stream ends early")
            }
            throw DataError(.decompression, path: path, reason: "gzip stream is corrupt (zlib status \(status))")
        }
        return output
    }

    /// Compresses `input` as one gzip member (mtime 0). Used by tests to make gzipped fixtures.
    static func deflate(_ input: [UInt8], level: Int32 = 6) -> [UInt8]? {
        Zlib.deflate(input, level: level, wrapper: .gzip)
    }
}
