extension WireCodec {
    /// Encodes a message for a PUB socket: the topic frame, the header, then tensor frames.
    /// - Throws: ``WireError`` `.topicMismatch` when the kind is not published (see ``Topic``), or
    ///   whatever ``encode(_:metadata:)`` throws.
    public static func encodePublished(_ message: ThawMessage, metadata: WireMetadata) throws(WireError) -> [[UInt8]] {
        guard let topic = Topic(publishing: message.kind) else {
            throw WireError(.topicMismatch, "\(message.kind.rawValue) is not a published message kind")
        }
        return [topic.frame] + (try encode(message, metadata: metadata))
    }

    /// Decodes a message received on a SUB socket (topic frame first) and checks that the topic matches
    /// the payload kind.
    /// - Throws: ``WireError`` `.missingTopic`, `.unknownTopic`, `.topicMismatch`, or whatever
    ///   ``decode(_:limits:)`` throws for the frames after the topic.
    public static func decodePublished(
        _ frames: [[UInt8]], limits: WireLimits = .default
    ) throws(WireError) -> DecodedMessage {
        guard let first = frames.first else { throw WireError(.emptyMessage, "no frames: the topic frame is missing") }
        try checkEnvelopeSizes(frames, limits: limits)
        guard frames.count >= 2 else {
            throw WireError(.missingTopic, "one frame only: a published message needs a topic and an Envelope")
        }
        guard let topic = Topic(frame: first) else {
            let shown = first.prefix(16).map { String($0, radix: 16) }.joined(separator: " ")
            throw WireError(.unknownTopic, "topic frame of \(first.count) bytes [\(shown)] is not a Thaw topic")
        }
        var decoded = try decodeBody(frames.dropFirst(), limits: limits)
        guard Topic(publishing: decoded.message.kind) == topic else {
            throw WireError(
                .topicMismatch, "\(decoded.message.kind.rawValue) arrived under topic \"\(topic.rawValue)\"")
        }
        decoded.topic = topic
        return decoded
    }
}
