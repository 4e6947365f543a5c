import Testing
import ThawWire

@Suite struct RoundTripTests {
    @Test func samplesCoverEveryKind() {
        #expect(Set(Samples.all.map(\.message.kind)) == Set(ThawMessage.Kind.allCases))
        #expect(Samples.all.map(\.name) == Samples.all.map(\.message.kind.rawValue))
    }

    @Test(arguments: (Samples.all + Samples.variants).map(\.message))
    func everyKindSurvivesARoundTrip(message: ThawMessage) throws {
        let frames = try WireCodec.encode(message, metadata: Samples.metadata)
        let decoded = try WireCodec.decode(frames)
        #expect(decoded.message == message)
        #expect(decoded.metadata == Samples.metadata)
        #expect(decoded.protocolVersion == WireCodec.protocolVersion)
        #expect(decoded.topic == nil)
    }

    @Test func tensorFramesAreRawLittleEndianFloats() throws {
        let frames = try WireCodec.encode(.featureBatch(Samples.featureBatch), metadata: Samples.metadata)
        #expect(frames.count == 2)
        let expected = Samples.activations.scalars.flatMap { value -> [UInt8] in
            let bits = value.bitPattern
            return [UInt8(bits & 0xff), UInt8(bits >> 8 & 0xff), UInt8(bits >> 16 & 0xff), UInt8(bits >> 24)]
        }
        #expect(frames[1] == expected)
    }

    @Test func repliesWithoutAttachmentsRoundTrip() throws {
        let replies: [ThawMessage] = [
            .headReply(
                HeadReply(
                    status: .notModified, userID: "u", headVersion: 3, parentVersion: 2, headHash: "cafe",
                    modelVersion: 3, freezePoint: 4, hyperHash: "ff", durableSeqs: [], headParameters: nil
                )
            ),
            .headReply(
                HeadReply(
                    status: .noHead, userID: "u", headVersion: 0, parentVersion: 0, headHash: "", modelVersion: 3,
                    freezePoint: 4, hyperHash: "", durableSeqs: [1], headParameters: nil
                )
            ),
            .baseModelReply(BaseModelReply(modelVersion: 9, modelHash: "", status: .unknownVersion, checkpoint: nil)),
            .featureSet(
                FeatureSet(userID: "u", sampleIDs: [], labels: [], activations: WireTensor(shape: [0, 8], scalars: []))),
            .invalidation(Invalidation(epoch: 1, modelVersion: 1, userID: nil, sampleIDs: [], reason: "")),
        ]
        for message in replies {
            let frames = try WireCodec.encode(message, metadata: Samples.metadata)
            #expect(try WireCodec.decode(frames).message == message)
        }
    }

    @Test func publishedKindsRoundTripWithTheirTopic() throws {
        var published = 0
        for (_, message) in Samples.all {
            guard let topic = Topic(publishing: message.kind) else {
                #expect(throws: WireError.self) { try WireCodec.encodePublished(message, metadata: Samples.metadata) }
                continue
            }
            let frames = try WireCodec.encodePublished(message, metadata: Samples.metadata)
            #expect(frames[0] == topic.frame)
            let decoded = try WireCodec.decodePublished(frames)
            #expect(decoded.message == message)
            #expect(decoded.topic == topic)
            published += 1
        }
        #expect(published == Topic.allCases.count)
    }

    /// A reply names the request it answers (Envelope.in_reply_to), so a client can match replies by id.
    @Test func inReplyToRoundTrips() throws {
        var metadata = Samples.metadata
        metadata.inReplyTo = 41
        let frames = try WireCodec.encode(.commitAck(CommitAck(userID: "u", version: 1, headHash: "ab")), metadata: metadata)
        #expect(try WireCodec.decode(frames).metadata.inReplyTo == 41)
        let request = try WireCodec.encode(.commitAck(CommitAck(userID: "u", version: 1, headHash: "ab")), metadata: Samples.metadata)
        #expect(try WireCodec.decode(request).metadata.inReplyTo == 0)
    }

    /// Row ids must match the rows and increase: a worker trusts them to fetch only newer rows.
    @Test func featureSetRowIDsAreChecked() throws {
        let activations = WireTensor(shape: [2, 1], scalars: [1, 2])
        for bad: [UInt64] in [[5], [5, 5], [6, 5]] {
            let frames = try? WireCodec.encode(
                .featureSet(FeatureSet(userID: "u", sampleIDs: [1, 2], labels: [0, 1], activations: activations, rowIDs: bad)),
                metadata: Samples.metadata)
            if let frames { #expect(throws: WireError.self) { try WireCodec.decode(frames) } }
        }
    }

    @Test func noTopicIsAPrefixOfAnother() {
        for a in Topic.allCases {
            for b in Topic.allCases where a != b {
                #expect(!b.rawValue.hasPrefix(a.rawValue))
            }
        }
    }

    @Test func encodingIsDeterministic() throws {
        for (_, message) in Samples.all {
            let first = try WireCodec.encode(message, metadata: Samples.metadata)
            let second = try WireCodec.encode(message, metadata: Samples.metadata)
            #expect(first == second)
        }
    }
}
