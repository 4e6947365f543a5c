import Testing

@testable import ThawWire

@Suite struct TensorFrameTests {
    @Test func theVectorFiniteScanFindsTheFirstBadValueAnywhere() {
        for count in [0, 1, 15, 16, 17, 1_000, 4_099] {
            #expect(TensorFrame.firstNonFinite(in: [Float](repeating: 1e30, count: count)) == nil)
            for bad in [Float.nan, .infinity, -.infinity] where count > 0 {
                for index in Set([0, count / 2, count - 1]) {
                    var values = [Float](repeating: -2.5, count: count)
                    values[index] = bad
                    #expect(TensorFrame.firstNonFinite(in: values) == index, "count \(count), index \(index)")
                }
            }
        }
    }
}

@Suite struct DecodeReuseTests {
    /// A head reply carrying `scalars`, encoded as it travels.
    static func frames(_ scalars: [Float], sequence: UInt64 = 1) throws -> [[UInt8]] {
        let reply = HeadReply(
            status: .head, userID: "user-7", headVersion: 3, parentVersion: 2, headHash: "cafe", modelVersion: 3,
            freezePoint: 4, hyperHash: "ff00", durableSeqs: [sequence], headParameters: WireTensor(flat: scalars))
        return try WireCodec.encode(.headReply(reply), metadata: WireMetadata(sender: "registry", sequence: sequence, sentAtUnixMs: 0))
    }

    static func parameters(_ message: ThawMessage) -> [Float]? {
        guard case .headReply(let reply) = message else { return nil }
        return reply.headParameters?.scalars
    }

    @Test func anEqualOfferedArrayIsUsedAndSharesItsStorage() throws {
        let values = (0..<5_000).map { Float($0) * 0.25 - 7 }
        let first = try WireCodec.decode(Self.frames(values))
        let kept = try #require(Self.parameters(first.message))
        let second = try WireCodec.decode(Self.frames(values, sequence: 2)) { _ in kept }
        let shared = try #require(Self.parameters(second.message))
        #expect(shared == values)
        #expect(kept.withUnsafeBufferPointer { a in shared.withUnsafeBufferPointer { b in a.baseAddress == b.baseAddress } })
        #expect(second.metadata.sequence == 2)
    }

    @Test func anOfferThatDiffersAnywhereIsIgnored() throws {
        let values = (0..<5_000).map { Float($0) * 0.5 }
        for changed in [0, 2_047, 4_999] {
            var other = values
            other[changed] = -1
            let decoded = try WireCodec.decode(Self.frames(values)) { _ in other }
            #expect(Self.parameters(decoded.message) == values, "offer differing at \(changed)")
        }
        // Another length, and -0.0 against 0.0 (equal as floats, not as bits).
        #expect(try Self.parameters(WireCodec.decode(Self.frames(values)) { _ in Array(values.dropLast()) }.message) == values)
        let zeros = [Float](repeating: 0, count: 64)
        let negative = try WireCodec.decode(Self.frames(zeros.map { _ in -0.0 })) { _ in zeros }
        #expect(Self.parameters(negative.message)?.allSatisfy { $0.sign == .minus } == true)
    }

    @Test func holdsComparesEveryByte() {
        for count in [1, 2, 3, 511, 512, 513, 2_000] {
            let values = (0..<count).map { Float($0) + 0.5 }
            let frame = values.withUnsafeBytes { Array($0) }
            #expect(TensorFrame.holds(frame, values))
            for index in Set([0, count / 2, count - 1]) {
                var other = values
                other[index] = other[index].nextUp
                #expect(!TensorFrame.holds(frame, other), "count \(count), index \(index)")
            }
            #expect(!TensorFrame.holds(frame, values + [1]))
        }
    }
}
