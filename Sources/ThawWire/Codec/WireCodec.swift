import SwiftProtobuf

/// Turns ``ThawMessage`` values into ZeroMQ frames and back, validating everything on the way in.
///
/// A message is `[Envelope header] + [one raw frame per TensorDescriptor]` (see docs/PROTOCOL.md);
/// PUB/SUB messages put a topic frame first (``encodePublished(_:metadata:)``). Decoding never traps on
/// any input: every violation throws a ``WireError`` with its own code, and a message is returned only
/// after the protocol version, frame layout, sizes, float finiteness and required fields were checked.
public enum WireCodec {
    /// The protocol version this build speaks; any other value is rejected.
    public static let protocolVersion: UInt32 = 1

    /// Encodes `message` as frames: the header, then the tensor frames.
    ///
    /// The message is checked as a receiver would check it, so a sender learns about a mistake (a NaN in a
    /// head, a missing user id) at once instead of from a silent drop on the other side.
    /// - Throws: ``WireError`` with the code a receiver would report (`.missingField`, `.nonFiniteValue`,
    ///   `.unexpectedTensors`…), or `.encodingFailed` if protobuf serialization fails.
    public static func encode(_ message: ThawMessage, metadata: WireMetadata) throws(WireError) -> [[UInt8]] {
        let (payload, attachments) = PayloadMapping.payload(of: message)
        try validateOutgoing(payload: payload, attachments: attachments, kind: message.kind)

        var envelope = Thaw_V1_Envelope()
        envelope.protocolVersion = protocolVersion
        envelope.sender = metadata.sender
        envelope.sequence = metadata.sequence
        envelope.sentAtUnixMs = metadata.sentAtUnixMs
        envelope.inReplyTo = metadata.inReplyTo
        envelope.payload = payload
        var frames: [[UInt8]] = [[]]
        frames.reserveCapacity(1 + attachments.count)
        for attachment in attachments {
            let (descriptor, frame) = attachment.encoded()
            envelope.tensors.append(descriptor)
            frames.append(frame)
        }
        // Sorted map keys make the bytes a pure function of the message (golden fixtures, hashing).
        var options = BinaryEncodingOptions()
        options.useDeterministicOrdering = true
        do {
            frames[0] = try envelope.serializedBytes(options: options)
        } catch {
            throw WireError(
                .encodingFailed, "\(message.kind.rawValue): protobuf serialization failed", underlying: error)
        }
        return frames
    }

    /// Decodes and validates one message (no topic frame).
    /// - Throws: ``WireError``; each kind of violation has its own ``WireError/Code``.
    public static func decode(_ frames: [[UInt8]], limits: WireLimits = .default) throws(WireError) -> DecodedMessage {
        try checkEnvelopeSizes(frames, limits: limits)
        return try decodeBody(frames[...], limits: limits)
    }

    /// Decodes and validates one message like ``decode(_:limits:)``, taking a float32 tensor's values
    /// from `reuse` when they are the frame's bytes: a receiver that gets the same large tensor many
    /// times (the phones of one user pulling the same 6.4 MB head) then holds one array instead of
    /// allocating and copying one per message.
    ///
    /// - Parameter reuse: offers a previously decoded array for a float32 frame (or nil). The codec
    ///   uses it only if its bytes equal the frame's (compared, never assumed), so a wrong offer costs
    ///   a comparison and changes nothing; an equal array was decoded, finite, by this codec before.
    /// - Throws: ``WireError``, exactly as ``decode(_:limits:)``.
    public static func decode(
        _ frames: [[UInt8]], limits: WireLimits = .default, reusing reuse: ([UInt8]) -> [Float]?
    ) throws(WireError) -> DecodedMessage {
        try checkEnvelopeSizes(frames, limits: limits)
        return try decodeBody(frames[...], limits: limits, reusing: reuse)
    }

    /// Rejects oversized input before parsing anything.
    static func checkEnvelopeSizes(_ frames: [[UInt8]], limits: WireLimits) throws(WireError) {
        guard !frames.isEmpty else { throw WireError(.emptyMessage, "no frames: the Envelope header is missing") }
        guard frames.count <= limits.maxFrames else {
            throw WireError(.tooManyFrames, "\(frames.count) frames exceed the limit of \(limits.maxFrames)")
        }
        var total = 0
        for frame in frames { total &+= frame.count }
        guard total <= limits.maxTotalBytes else {
            throw WireError(.messageTooLarge, "\(total) bytes exceed the limit of \(limits.maxTotalBytes)")
        }
    }

    /// Decodes `[header] + tensor frames`; sizes were checked by the caller.
    static func decodeBody(
        _ frames: ArraySlice<[UInt8]>, limits: WireLimits, reusing reuse: ([UInt8]) -> [Float]? = { _ in nil }
    ) throws(WireError) -> DecodedMessage {
        guard let header = frames.first else {
            throw WireError(.emptyMessage, "no Envelope header frame")
        }
        guard header.count <= limits.maxHeaderBytes else {
            throw WireError(.headerTooLarge, "header of \(header.count) bytes exceeds \(limits.maxHeaderBytes)")
        }
        guard !header.isEmpty else { throw WireError(.emptyMessage, "the Envelope header frame is empty") }
        let envelope: Thaw_V1_Envelope
        do {
            envelope = try Thaw_V1_Envelope(serializedBytes: header)
        } catch {
            throw WireError(
                .headerUnparseable, "header frame of \(header.count) bytes is not an Envelope", underlying: error)
        }
        guard envelope.protocolVersion == protocolVersion else {
            throw WireError(
                .unsupportedProtocolVersion,
                "protocol_version \(envelope.protocolVersion), expected \(protocolVersion)"
            )
        }
        guard let payload = envelope.payload else {
            if envelope.unknownFields.data.isEmpty {
                throw WireError(.missingPayload, "the Envelope has no payload")
            }
            throw WireError(.unknownPayloadKind, "the Envelope's payload is of a kind this build does not know")
        }
        let kind = PayloadMapping.kind(of: payload)
        let descriptors = envelope.tensors
        let tensorFrames = frames.dropFirst()
        guard tensorFrames.count == descriptors.count else {
            throw WireError(
                .frameCountMismatch,
                "\(kind.rawValue): header describes \(descriptors.count) tensor frames, \(tensorFrames.count) follow"
            )
        }
        var shapes: [[Int]] = []
        shapes.reserveCapacity(descriptors.count)
        for (index, (descriptor, frame)) in zip(descriptors, tensorFrames).enumerated() {
            shapes.append(try DescriptorValidation.validate(descriptor, index: index, frame: frame, limits: limits))
        }
        try DescriptorValidation.match(descriptors, to: PayloadMapping.specs(for: payload), kind: kind)

        var attachments: [Attachment] = []
        attachments.reserveCapacity(descriptors.count)
        for (index, (descriptor, frame)) in zip(descriptors, tensorFrames).enumerated() {
            guard let encoding = ActivationEncoding(dtype: descriptor.dtype) else {
                attachments.append(.bytes(name: descriptor.name, frame))
                continue
            }
            // Decoded once, here: past the codec every tensor holds float32 values.
            let scalars: [Float]
            if encoding == .float32, let offered = reuse(frame), TensorFrame.holds(frame, offered) {
                scalars = offered
            } else {
                scalars = try ActivationCodec.decode(
                    frame, shape: shapes[index], encoding: encoding,
                    label: "\(kind.rawValue) tensor \"\(descriptor.name)\"")
            }
            let tensor = WireTensor(validatedShape: shapes[index], scalars: scalars)
            attachments.append(
                encoding == .float32
                    ? .float(name: descriptor.name, tensor) : .activations(name: descriptor.name, tensor, encoding))
        }
        let message = try PayloadMapping.message(from: payload, attachments: attachments)
        let metadata = WireMetadata(
            sender: envelope.sender, sequence: envelope.sequence, sentAtUnixMs: envelope.sentAtUnixMs,
            inReplyTo: envelope.inReplyTo
        )
        return DecodedMessage(metadata: metadata, message: message, protocolVersion: envelope.protocolVersion)
    }

    /// Applies the receiver's checks to an outgoing message.
    private static func validateOutgoing(
        payload: PayloadMapping.Payload, attachments: [Attachment], kind: ThawMessage.Kind
    ) throws(WireError) {
        let specs = PayloadMapping.specs(for: payload)
        let outgoing = attachments.map { attachment -> Thaw_V1_TensorDescriptor in
            var descriptor = Thaw_V1_TensorDescriptor()
            descriptor.name = attachment.name
            descriptor.dtype = attachment.dtype
            switch attachment {
            case .float(_, let tensor), .activations(_, let tensor, _):
                descriptor.shape = tensor.shape.map { UInt64($0) }
            case .bytes(_, let blob):
                descriptor.shape = [UInt64(blob.count)]
            }
            return descriptor
        }
        try DescriptorValidation.match(outgoing, to: specs, kind: kind)
        for attachment in attachments {
            guard let tensor = attachment.tensor else { continue }
            if let bad = TensorFrame.firstNonFinite(in: tensor.scalars) {
                throw WireError(
                    .nonFiniteValue,
                    "\(kind.rawValue) tensor \"\(attachment.name)\": element \(bad) is \(tensor.scalars[bad])"
                )
            }
        }
        _ = try PayloadMapping.message(from: payload, attachments: attachments)
    }
}
