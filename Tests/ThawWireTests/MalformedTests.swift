import SwiftProtobuf
import Testing

@testable import ThawWire

/// Each kind of malformed input is rejected with its own code and a context that names the culprit.
@Suite struct MalformedTests {
    // MARK: helpers

    func expectCode(
        _ code: WireError.Code, _ frames: [[UInt8]], limits: WireLimits = .default, mentioning: String? = nil,
        published: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ =
                try published
                ? WireCodec.decodePublished(frames, limits: limits) : WireCodec.decode(frames, limits: limits)
            Issue.record("decoded, expected \(code)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            if let mentioning {
                #expect(error.context.contains(mentioning), "\(error)", sourceLocation: sourceLocation)
            }
        }
    }

    func validFrames(_ message: ThawMessage = .featureBatch(Samples.featureBatch)) throws -> [[UInt8]] {
        try WireCodec.encode(message, metadata: Samples.metadata)
    }

    /// Re-encodes `frames` after editing the header with `edit`.
    func editing(_ frames: [[UInt8]], _ edit: (inout Thaw_V1_Envelope) -> Void) throws -> [[UInt8]] {
        var envelope = try Thaw_V1_Envelope(serializedBytes: frames[0])
        edit(&envelope)
        var edited = frames
        edited[0] = try envelope.serializedBytes()
        return edited
    }

    func batchEditing(_ edit: (inout Thaw_V1_FeatureBatch) -> Void) throws -> [[UInt8]] {
        try editing(validFrames()) { envelope in
            guard case .featureBatch(var batch) = envelope.payload else { return }
            edit(&batch)
            envelope.payload = .featureBatch(batch)
        }
    }

    // MARK: framing

    @Test func emptyMessageHasNoHeader() {
        expectCode(.emptyMessage, [])
        expectCode(.emptyMessage, [[]])
    }

    @Test func headerThatIsNotAnEnvelopeIsUnparseable() {
        expectCode(.headerUnparseable, [[0xff, 0xff, 0xff, 0xff]])
        expectCode(.headerUnparseable, [[0x0a, 0x05, 0x01]])  // truncated length-delimited field
    }

    @Test func unsupportedProtocolVersionNamesBothVersions() throws {
        let frames = try editing(validFrames()) { $0.protocolVersion = 2 }
        expectCode(.unsupportedProtocolVersion, frames, mentioning: "protocol_version 2, expected 1")
        expectCode(.unsupportedProtocolVersion, try editing(validFrames()) { $0.protocolVersion = 0 })
    }

    @Test func envelopeWithoutPayloadIsRejected() throws {
        var envelope = Thaw_V1_Envelope()
        envelope.protocolVersion = 1
        envelope.sender = "x"
        expectCode(.missingPayload, [try envelope.serializedBytes()])
    }

    @Test func payloadOfAnUnknownKindIsRejected() throws {
        var envelope = Thaw_V1_Envelope()
        envelope.protocolVersion = 1
        var header: [UInt8] = try envelope.serializedBytes()
        header += [0x9a, 0x06, 0x01, 0x08]  // field 99, length-delimited, 1 byte: a newer peer's payload
        expectCode(.unknownPayloadKind, [header])
    }

    @Test func frameCountMustMatchTheDescriptors() throws {
        let frames = try validFrames()
        expectCode(.frameCountMismatch, [frames[0]], mentioning: "1 tensor frames, 0 follow")
        expectCode(.frameCountMismatch, frames + [[1, 2, 3, 4]], mentioning: "2 follow")
    }

    // MARK: descriptors

    @Test func unspecifiedOrUnknownDTypeIsUnsupported() throws {
        expectCode(
            .unsupportedDType, try editing(validFrames()) { $0.tensors[0].dtype = .unspecified },
            mentioning: "activations")
        expectCode(
            .unsupportedDType, try editing(validFrames()) { $0.tensors[0].dtype = .UNRECOGNIZED(7) }, mentioning: "7")
    }

    @Test func absurdShapesAreInvalid() throws {
        expectCode(.invalidShape, try editing(validFrames()) { $0.tensors[0].shape = [] }, mentioning: "rank 0")
        expectCode(.invalidShape, try editing(validFrames()) { $0.tensors[0].shape = Array(repeating: 1, count: 9) })
        expectCode(
            .invalidShape, try editing(validFrames()) { $0.tensors[0].shape = [3, 1 << 40] }, mentioning: "dimension")
        let overflow = try editing(validFrames()) { $0.tensors[0].shape = [1 << 31, 1 << 31, 1 << 31] }
        expectCode(.invalidShape, overflow, mentioning: "overflows")
    }

    @Test func shapeMustMatchTheDeclaredByteLength() throws {
        let frames = try editing(validFrames()) { $0.tensors[0].byteLength = 44 }
        expectCode(.shapeByteLengthMismatch, frames, mentioning: "needs 48 bytes, byte_length is 44")
    }

    @Test func declaredByteLengthMustMatchTheFrame() throws {
        var frames = try validFrames()
        frames[1].removeLast(4)
        expectCode(.frameLengthMismatch, frames, mentioning: "byte_length 48 but the frame has 44 bytes")
    }

    @Test func descriptorsMustBeWhatThePayloadCarries() throws {
        expectCode(
            .unexpectedTensors, try editing(validFrames()) { $0.tensors[0].name = "features" },
            mentioning: "\"activations\"")
        let asBytes = try editing(validFrames()) {
            $0.tensors[0].dtype = .bytes
            $0.tensors[0].shape = [48]
        }
        expectCode(.unexpectedTensors, asBytes, mentioning: "activations")
        let flatCommit = try validFrames(.headCommit(Samples.headCommit))
        expectCode(.unexpectedTensors, try editing(flatCommit) { $0.tensors[0].shape = [1, 5] }, mentioning: "rank 2")
        let notModified = try editing(validFrames(.headReply(Samples.headReply))) { envelope in
            guard case .headReply(var reply) = envelope.payload else { return }
            reply.status = .notModified
            envelope.payload = .headReply(reply)
        }
        expectCode(.unexpectedTensors, notModified, mentioning: "head_reply")
    }

    @Test func nonFiniteFloatsAreRejected() throws {
        for bad in [Float.nan, .infinity, -.infinity] {
            var frames = try validFrames()
            let bits = bad.bitPattern
            frames[1].replaceSubrange(
                20..<24,
                with: [UInt8(bits & 0xff), UInt8(bits >> 8 & 0xff), UInt8(bits >> 16 & 0xff), UInt8(bits >> 24)])
            expectCode(.nonFiniteValue, frames, mentioning: "\"activations\": element 5")
        }
    }

    // MARK: limits

    @Test func limitsAreEnforcedBeforeParsing() throws {
        let frames = try validFrames()
        expectCode(.tooManyFrames, Array(repeating: frames[0], count: 17))
        expectCode(.messageTooLarge, frames, limits: WireLimits(maxTotalBytes: 32))
        expectCode(.headerTooLarge, frames, limits: WireLimits(maxHeaderBytes: 8))
        expectCode(.tensorTooLarge, frames, limits: WireLimits(maxTensorBytes: 16), mentioning: "48 bytes exceed 16")
        #expect(WireLimits.default.maxTensorBytes == 64 << 20)
    }

    // MARK: semantics

    @Test func requiredFieldsAreChecked() throws {
        expectCode(.missingField, try batchEditing { $0.userID = "" }, mentioning: "feature_batch.user_id")
        expectCode(.missingField, try batchEditing { $0.deviceID = "" }, mentioning: "feature_batch.device_id")
        let noState = try editing(
            validFrames(.heartbeat(Heartbeat(state: Samples.state, coordinatorStartedAtMs: 1, counter: 1)))
        ) {
            envelope in
            guard case .heartbeat(var beat) = envelope.payload else { return }
            beat.clearState()
            envelope.payload = .heartbeat(beat)
        }
        expectCode(.missingField, noState, mentioning: "heartbeat.state")
        let unspecified = try editing(validFrames(.headReply(Samples.headReply))) { envelope in
            guard case .headReply(var reply) = envelope.payload else { return }
            reply.status = .unspecified
            envelope.payload = .headReply(reply)
            envelope.tensors = []
        }
        expectCode(.missingField, Array(unspecified.prefix(1)), mentioning: "head_reply.status")
    }

    @Test func aHeadDeltaNeedsItsBaseItsEncodingAndOneBytesFrame() throws {
        let valid = try validFrames(.headReply(Samples.headReplyDelta))
        #expect(valid.count == 2 && valid[1] == Samples.headReplyDelta.headDelta)
        func edited(_ edit: (inout Thaw_V1_HeadReply) -> Void) throws -> [[UInt8]] {
            try editing(valid) { envelope in
                guard case .headReply(var reply) = envelope.payload else { return }
                edit(&reply)
                envelope.payload = .headReply(reply)
            }
        }
        expectCode(.missingField, try edited { $0.deltaBaseHash = "" }, mentioning: "head_reply.delta_base_hash")
        expectCode(.missingField, try edited { $0.headHash = "" }, mentioning: "head_reply.head_hash")
        expectCode(.missingField, try edited { $0.deltaEncoding = .unspecified }, mentioning: "delta_encoding")
        expectCode(.invalidField, try edited { $0.deltaEncoding = .UNRECOGNIZED(9) }, mentioning: "delta_encoding 9")
        // The delta travels as BYTES named head_delta, never as floats, and never without its frame.
        let asFloats = try editing(valid) {
            $0.tensors[0].dtype = .float32
            $0.tensors[0].shape = [2]
            $0.tensors[0].byteLength = 8
        }
        expectCode(.unexpectedTensors, [asFloats[0], [UInt8](repeating: 0, count: 8)], mentioning: "head_delta")
        let renamed = try editing(valid) { $0.tensors[0].name = "head_parameters" }
        expectCode(.unexpectedTensors, renamed, mentioning: "head_delta")
        let withoutFrame = try editing(valid) { $0.tensors = [] }
        expectCode(.unexpectedTensors, Array(withoutFrame.prefix(1)), mentioning: "head_reply")
        // A full HEAD with a bytes frame instead of its parameters is refused as well.
        let fullAsBytes = try edited { $0.status = .head }
        expectCode(.unexpectedTensors, fullAsBytes, mentioning: "head_parameters")
    }

    @Test func sampleCountsMustAgreeWithTheActivations() throws {
        expectCode(
            .invalidField, try batchEditing { $0.labels.removeLast() },
            mentioning: "labels has 2 entries but activations dim 0 has 3")
        expectCode(.invalidField, try batchEditing { $0.sampleIds.append(1) }, mentioning: "sample_ids")
    }

    @Test func fedAvgMessagesAreChecked() throws {
        let update = ThawMessage.fedAvgUpdate(
            FedAvgUpdate(clientID: "phones-3", round: 2, samples: 24, loss: 0.5, weights: Samples.head))
        func updateEditing(_ edit: (inout Thaw_V1_FedAvgUpdate) -> Void) throws -> [[UInt8]] {
            try editing(validFrames(update)) { envelope in
                guard case .fedavgUpdate(var payload) = envelope.payload else { return }
                edit(&payload)
                envelope.payload = .fedavgUpdate(payload)
            }
        }
        expectCode(.missingField, try updateEditing { $0.clientID = "" }, mentioning: "fedavg_update.client_id")
        expectCode(.invalidField, try updateEditing { $0.samples = 0 }, mentioning: "fedavg_update.samples")
        expectCode(.invalidField, try updateEditing { $0.round = 0 }, mentioning: "fedavg_update.round")
        // The weights frame is required and flat.
        expectCode(.frameCountMismatch, Array(try validFrames(update).prefix(1)))
        expectCode(
            .unexpectedTensors, try editing(validFrames(update)) { $0.tensors[0].shape = [1, 5] }, mentioning: "rank 2")

        let model = ThawMessage.fedAvgModel(
            FedAvgModel(
                clientID: "phones-3", round: 2, localEpochs: 5, batchSize: 10, learningRate: 0.05, freezePoint: 4,
                weights: Samples.head))
        let zeroRate = try editing(validFrames(model)) { envelope in
            guard case .fedavgModel(var payload) = envelope.payload else { return }
            payload.learningRate = 0
            envelope.payload = .fedavgModel(payload)
        }
        expectCode(.invalidField, zeroRate, mentioning: "fedavg_model.learning_rate")
        let noEpochs = try editing(validFrames(model)) { envelope in
            guard case .fedavgModel(var payload) = envelope.payload else { return }
            payload.localEpochs = 0
            envelope.payload = .fedavgModel(payload)
        }
        expectCode(.invalidField, noEpochs, mentioning: "fedavg_model.local_epochs")

        let join = try editing(validFrames(.fedAvgJoin(FedAvgJoin(clientID: "phones-3", samples: 24)))) { envelope in
            guard case .fedavgJoin(var payload) = envelope.payload else { return }
            payload.samples = 0
            envelope.payload = .fedavgJoin(payload)
        }
        expectCode(.invalidField, join, mentioning: "fedavg_join.samples")
    }

    // MARK: topics

    @Test func publishedMessagesNeedTheRightTopic() throws {
        let beat = ThawMessage.heartbeat(Heartbeat(state: Samples.state, coordinatorStartedAtMs: 1, counter: 2))
        let frames = try WireCodec.encodePublished(beat, metadata: Samples.metadata)
        expectCode(.missingTopic, Array(frames.dropFirst()), published: true)
        expectCode(.unknownTopic, [Array("weather".utf8)] + frames.dropFirst(), published: true)
        expectCode(.topicMismatch, [Topic.model.frame] + frames.dropFirst(), mentioning: "heartbeat", published: true)
        expectCode(.emptyMessage, [], published: true)
    }

    // MARK: encoding

    @Test func encodingRefusesWhatADecoderWouldReject() {
        var batch = Samples.featureBatch
        batch.activations = WireTensor(shape: [3, 1], scalars: [1, .nan, 2])
        #expect(throws: WireError.self) { try WireCodec.encode(.featureBatch(batch), metadata: Samples.metadata) }
        do {
            _ = try WireCodec.encode(.featureBatch(batch), metadata: Samples.metadata)
        } catch {
            #expect(error.code == .nonFiniteValue)
        }
        var reply = Samples.headReply
        reply.headParameters = nil
        do {
            _ = try WireCodec.encode(.headReply(reply), metadata: Samples.metadata)
            Issue.record("encoded a HEAD reply without parameters")
        } catch {
            #expect(error.code == .unexpectedTensors)
        }
        batch = Samples.featureBatch
        batch.userID = ""
        do {
            _ = try WireCodec.encode(.featureBatch(batch), metadata: Samples.metadata)
            Issue.record("encoded a batch without a user")
        } catch {
            #expect(error.code == .missingField)
        }
    }
}
