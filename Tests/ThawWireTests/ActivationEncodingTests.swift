import SwiftProtobuf
import Testing

@testable import ThawWire

/// Activation encodings: stamps, byte layouts, error bounds, and refusal of malformed frames.
@Suite struct ActivationEncodingTests {
    /// A [rows, 50] tensor of seeded values in roughly [-scale, scale], some rows all zero.
    static func tensor(rows: Int = 6, perRow: Int = 50, scale: Float = 3, seed: UInt64 = 7) -> WireTensor {
        var state = seed
        var scalars: [Float] = []
        for row in 0..<rows {
            for _ in 0..<perRow {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let unit = Float(state >> 40) / Float(1 << 24)
                // Row 2 is all zeros (post-ReLU rows can be); the rest mix signs and magnitudes.
                scalars.append(row == 2 ? 0 : (unit * 2 - 1) * scale * Float(row + 1))
            }
        }
        return WireTensor(shape: [rows, perRow], scalars: scalars)
    }

    func batch(_ encoding: ActivationEncoding, activations: WireTensor = tensor()) -> FeatureBatch {
        let rows = activations.shape[0]
        return FeatureBatch(
            userID: "user-7", deviceID: "device-1", deviceSeq: 9, modelVersion: 3, modelHash: "ab12cd34",
            freezePoint: 4, hyperHash: encoding.stamp(hash: "ff00"), sampleIDs: (0..<rows).map { UInt64($0) },
            labels: (0..<rows).map { UInt32($0 % 10) }, createdAtMs: 1, activations: activations,
            activationEncoding: encoding)
    }

    func decodedBatch(_ frames: [[UInt8]]) throws -> FeatureBatch {
        guard case .featureBatch(let batch) = try WireCodec.decode(frames).message else {
            Issue.record("not a feature batch")
            throw WireError(.invalidField, "not a feature batch")
        }
        return batch
    }

    // MARK: stamps

    @Test func stampsNameTheirEncoding() {
        #expect(ActivationEncoding(stamp: "ab12") == .float32)
        #expect(ActivationEncoding(stamp: "ab12+float16") == .float16)
        #expect(ActivationEncoding(stamp: "ab12+int8") == .int8)
        #expect(ActivationEncoding(stamp: "ab12+float32") == nil)
        #expect(ActivationEncoding(stamp: "ab12+bfloat16") == nil)
        for encoding in ActivationEncoding.allCases {
            #expect(ActivationEncoding(stamp: encoding.stamp(hash: "ab12")) == encoding)
        }
        #expect(ActivationEncoding.float32.stamp(hash: "ab12") == "ab12")
    }

    // MARK: round trips and error bounds

    @Test(arguments: ActivationEncoding.allCases)
    func roundTripDecodesToFloatsWithinTheBound(_ encoding: ActivationEncoding) throws {
        let original = Self.tensor()
        let frames = try WireCodec.encode(.featureBatch(batch(encoding, activations: original)), metadata: Samples.metadata)
        #expect(frames[1].count == encoding.byteCount(rows: 6, valuesPerRow: 50))
        let decoded = try decodedBatch(frames)
        #expect(decoded.activationEncoding == encoding)
        #expect(decoded.activations.shape == original.shape)
        #expect(decoded.activations == ActivationCodec.roundTrip(original, as: encoding))
        for row in 0..<6 {
            let values = original.scalars[(row * 50)..<((row + 1) * 50)]
            let maxAbs = values.map(abs).max()!
            for index in values.indices {
                let error = abs(decoded.activations.scalars[index] - original.scalars[index])
                switch encoding {
                case .float32:
                    #expect(error == 0)
                case .float16:
                    // Round to nearest: half an ulp of binary16, 2^-11 relative, for normal values.
                    #expect(error <= abs(original.scalars[index]) * 0x1p-11 + 0x1p-25, "row \(row) #\(index)")
                case .int8:
                    // Half a quantisation step, plus float32 rounding of the division and product.
                    #expect(error <= maxAbs / 254 * 1.0001 + 1e-30, "row \(row) #\(index)")
                }
            }
            if maxAbs == 0 {
                #expect(decoded.activations.scalars[(row * 50)..<((row + 1) * 50)].allSatisfy { $0 == 0 })
            }
        }
    }

    /// Encoding is a pure function, and float16 of float16 values is exact (a re-send costs nothing more).
    @Test func encodingIsDeterministicAndFloat16Idempotent() {
        for encoding in ActivationEncoding.allCases {
            #expect(ActivationCodec.encode(Self.tensor(), as: encoding) == ActivationCodec.encode(Self.tensor(), as: encoding))
        }
        let once = ActivationCodec.roundTrip(Self.tensor(), as: .float16)
        #expect(ActivationCodec.roundTrip(once, as: .float16) == once)
    }

    @Test func float16SaturatesInsteadOfOverflowing() throws {
        let big = WireTensor(shape: [1, 3], scalars: [1e6, -1e6, 65504])
        let decoded = ActivationCodec.roundTrip(big, as: .float16)
        #expect(decoded.scalars == [65504, -65504, 65504])
    }

    /// The layout of docs/PROTOCOL.md, byte by byte: scales first (binary32 LE), then int8 rows.
    @Test func int8LayoutIsScalesThenRows() {
        let tensor = WireTensor(shape: [2, 3], scalars: [1.27, -0.635, 0, 0, 0, 0])
        let bytes = ActivationCodec.encode(tensor, as: .int8)
        let scale = Float(1.27) / 127
        let bits = scale.bitPattern
        #expect(Array(bytes[0..<4]) == [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: bits >> $0) })
        #expect(Array(bytes[4..<8]) == [0, 0, 0, 0])
        #expect(Int8(bitPattern: bytes[8]) == 127)
        #expect(Int8(bitPattern: bytes[9]) == -64)  // -63.5 rounds to even: -64
        #expect(Array(bytes[10..<14]) == [0, 0, 0, 0])
        #expect(bytes.count == 2 * 4 + 6)
    }

    @Test func float16LayoutIsLittleEndianBinary16() {
        let bytes = ActivationCodec.encode(WireTensor(shape: [1, 2], scalars: [1, -2]), as: .float16)
        #expect(bytes == [0x00, 0x3C, 0x00, 0xC0])
    }

    // MARK: refusals of malformed frames

    func framesWithActivations(_ encoding: ActivationEncoding, edit: (inout [UInt8]) -> Void) throws -> [[UInt8]] {
        var frames = try WireCodec.encode(.featureBatch(batch(encoding)), metadata: Samples.metadata)
        edit(&frames[1])
        return frames
    }

    func expectRefused(_ code: WireError.Code, _ frames: [[UInt8]], mentioning: String) {
        do {
            _ = try WireCodec.decode(frames)
            Issue.record("decoded, expected \(code)")
        } catch {
            #expect(error.code == code, "\(error)")
            #expect(error.context.contains(mentioning), "\(error)")
        }
    }

    @Test func float16NaNAndInfinityAreRefused() throws {
        expectRefused(.nonFiniteValue, try framesWithActivations(.float16) { $0[2] = 0x00; $0[3] = 0x7C }, mentioning: "element 1")
        expectRefused(.nonFiniteValue, try framesWithActivations(.float16) { $0[0] = 0x01; $0[1] = 0xFE }, mentioning: "element 0")
    }

    @Test func int8BadScalesAndMinusOneTwentyEightAreRefused() throws {
        let nan = Float.nan.bitPattern
        expectRefused(
            .nonFiniteValue,
            try framesWithActivations(.int8) { frame in
                for byte in 0..<4 { frame[4 + byte] = UInt8(truncatingIfNeeded: nan >> (8 * byte)) }
            }, mentioning: "row 1")
        let negative = Float(-1).bitPattern
        expectRefused(
            .invalidField,
            try framesWithActivations(.int8) { frame in
                for byte in 0..<4 { frame[byte] = UInt8(truncatingIfNeeded: negative >> (8 * byte)) }
            }, mentioning: "row 0")
        let huge = Float.greatestFiniteMagnitude.bitPattern
        expectRefused(
            .invalidField,
            try framesWithActivations(.int8) { frame in
                for byte in 0..<4 { frame[byte] = UInt8(truncatingIfNeeded: huge >> (8 * byte)) }
            }, mentioning: "row 0")
        expectRefused(.invalidField, try framesWithActivations(.int8) { $0[6 * 4 + 3] = 0x80 }, mentioning: "-128")
    }

    @Test func byteLengthMustIncludeTheScales() throws {
        var frames = try WireCodec.encode(.featureBatch(batch(.int8)), metadata: Samples.metadata)
        var envelope = try Thaw_V1_Envelope(serializedBytes: frames[0])
        envelope.tensors[0].byteLength = 6 * 50  // without the 6 scales
        frames[0] = try envelope.serializedBytes()
        frames[1].removeLast(24)
        expectRefused(.shapeByteLengthMismatch, frames, mentioning: "byte_length")
    }

    @Test func truncatedEncodedFrameIsRefused() throws {
        expectRefused(.frameLengthMismatch, try framesWithActivations(.float16) { $0.removeLast() }, mentioning: "frame has")
    }

    /// Only a FeatureBatch's activations may be encoded; a head commit or feature set must be float32.
    @Test func encodedDTypesAreRefusedOutsideFeatureBatches() throws {
        var frames = try WireCodec.encode(.headCommit(Samples.headCommit), metadata: Samples.metadata)
        var envelope = try Thaw_V1_Envelope(serializedBytes: frames[0])
        envelope.tensors[0].dtype = .float16
        envelope.tensors[0].byteLength = UInt64(Samples.head.scalars.count * 2)
        frames[0] = try envelope.serializedBytes()
        frames[1] = ActivationCodec.encode(Samples.head, as: .float16)
        expectRefused(.unexpectedTensors, frames, mentioning: "head_parameters")
    }

    @Test func encodedBatchesAreSmaller() throws {
        let sizes = try ActivationEncoding.allCases.map { encoding in
            try WireCodec.encode(.featureBatch(batch(encoding)), metadata: Samples.metadata)[1].count
        }
        #expect(sizes == [1200, 600, 324])
    }
}
