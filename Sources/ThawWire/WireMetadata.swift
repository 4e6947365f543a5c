/// Envelope fields that describe the sending, not the payload.
public struct WireMetadata: Sendable, Hashable {
    /// Node name of the sender.
    public var sender: String
    /// Per-sender message counter, for logs and duplicate diagnosis.
    public var sequence: UInt64
    /// Wall-clock send time in milliseconds since the Unix epoch.
    public var sentAtUnixMs: UInt64
    /// On a reply: the request's `sequence` (its request id); 0 on requests and published messages.
    public var inReplyTo: UInt64

    public init(sender: String, sequence: UInt64, sentAtUnixMs: UInt64, inReplyTo: UInt64 = 0) {
        self.sender = sender
        self.sequence = sequence
        self.sentAtUnixMs = sentAtUnixMs
        self.inReplyTo = inReplyTo
    }
}

/// A validated message with its envelope metadata (and topic, when it came over PUB/SUB).
public struct DecodedMessage: Sendable, Equatable {
    public var metadata: WireMetadata
    public var message: ThawMessage
    /// The topic frame, for messages decoded with ``WireCodec/decodePublished(_:limits:)``.
    public var topic: Topic?
    /// The envelope's protocol version (always ``WireCodec/protocolVersion`` today).
    public var protocolVersion: UInt32

    public init(metadata: WireMetadata, message: ThawMessage, topic: Topic? = nil, protocolVersion: UInt32) {
        self.metadata = metadata
        self.message = message
        self.topic = topic
        self.protocolVersion = protocolVersion
    }
}
