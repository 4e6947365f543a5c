import ThawWire

extension ThawMessage {
    /// The bytes this message occupies on the wire (all frames), for the radio energy model.
    ///
    /// Re-encodes the message; the envelope's sender and stamps differ by a few bytes from the real send,
    /// which is noise next to the tensors.
    package var encodedByteCount: Int {
        get throws {
            let metadata = WireMetadata(sender: "", sequence: 0, sentAtUnixMs: 0)
            return try WireCodec.encode(self, metadata: metadata).reduce(0) { $0 + $1.count }
        }
    }
}
