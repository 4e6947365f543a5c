/// Reads `Envelope.sequence` (field 3, varint) from a header frame that did not decode as a whole, so
/// an `ErrorReply` to a malformed request still names the request it refuses. Walks the protobuf wire
/// format only as far as needed; returns nil for anything it cannot read.
enum EnvelopePeek {
    static func sequence(_ header: [UInt8]) -> UInt64? {
        var position = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while position < header.count, shift < 64 {
                let byte = header[position]
                position += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while position < header.count {
            guard let key = varint() else { return nil }
            let field = key >> 3
            switch key & 7 {
            case 0:
                guard let value = varint() else { return nil }
                if field == 3 { return value }
            case 1:
                position += 8
            case 2:
                guard let length = varint(), length <= UInt64(header.count - min(position, header.count)) else {
                    return nil
                }
                position += Int(length)
            case 5:
                position += 4
            default:
                return nil
            }
        }
        return nil
    }
}
