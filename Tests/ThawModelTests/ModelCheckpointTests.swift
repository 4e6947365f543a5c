import Crypto
import Foundation
import Testing
import ThawModel
import ThawNN

@Suite struct ModelCheckpointTests {
    static func sample() -> (Model, [UInt8]) {
        let model = Model(architecture: .smallCNN(classes: 10, inputSide: 12), seed: 3)
        return (model, ModelCheckpoint.encode(model, version: ModelVersion(7)))
    }

    /// Replaces the trailing checksum so that a deliberately altered payload passes the checksum check.
    static func resealed(_ bytes: [UInt8]) -> [UInt8] {
        let payload = Array(bytes.dropLast(32))
        return payload + Array(SHA256.hash(data: payload))
    }

    static func expectError(
        _ code: ModelFileError.Code, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try ModelCheckpoint.decode(bytes)
            Issue.record("decoded although \(code) was expected", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func roundTripKeepsEverything() throws {
        let (model, bytes) = Self.sample()
        #expect(Array(bytes.prefix(8)) == Array("THAWMDL1".utf8))
        let contents = try ModelCheckpoint.decode(bytes)
        #expect(contents.architecture == model.architecture)
        #expect(contents.version == ModelVersion(7))
        #expect(contents.parameters == model.parameters)
        #expect(contents.makeModel().parameters == model.parameters)
        // Deterministic: the same model encodes to the same bytes.
        #expect(ModelCheckpoint.encode(model, version: ModelVersion(7)) == bytes)
    }

    @Test func everyArchitectureLayerKindRoundTrips() throws {
        let architecture = ModelArchitecture(
            inputShape: [2, 9, 9],
            layers: [
                .conv2D(inChannels: 2, outChannels: 3, kernel: 3, stride: 2, padding: 1), .relu, .dropout(rate: 0.25),
                .maxPool2D(size: 2, stride: 1), .flatten, .dense(inputs: 48, outputs: 5),
            ])
        let bytes = ArchitectureEncoding.encode(architecture)
        #expect(try ArchitectureEncoding.decode(bytes) == architecture)
        let model = Model(architecture: architecture, seed: 1)
        let contents = try ModelCheckpoint.decode(ModelCheckpoint.encode(model, version: ModelVersion(1)))
        #expect(contents.architecture == architecture)
    }

    @Test func saveAndLoadThroughAFile() throws {
        let (model, _) = Self.sample()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "thaw-model-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("base.thawmdl").path
        try ModelCheckpoint.save(model, version: ModelVersion(3), to: path)
        let loaded = try ModelCheckpoint.load(from: path)
        #expect(loaded.parameters == model.parameters && loaded.version == ModelVersion(3))
        do {
            _ = try ModelCheckpoint.load(from: directory.appendingPathComponent("missing").path)
            Issue.record("missing file loaded")
        } catch {
            #expect(error.code == .io)
        }
    }

    @Test func truncationAnywhereIsReportedAsTruncated() {
        let (_, bytes) = Self.sample()
        for cut in [0, 5, 10, 20, 30, 60, 200, bytes.count / 2, bytes.count - 33, bytes.count - 1] {
            Self.expectError(.truncated, Array(bytes.prefix(cut)))
        }
    }

    @Test func corruptedBytesFailTheChecksum() {
        let (_, bytes) = Self.sample()
        for position in [12, bytes.count / 2, bytes.count - 40, bytes.count - 1] {
            var corrupted = bytes
            corrupted[position] ^= 0x01
            Self.expectError(.checksumMismatch, corrupted)
        }
    }

    @Test func badMagicVersionAndTrailingBytes() {
        let (_, bytes) = Self.sample()
        var wrongMagic = bytes
        wrongMagic[0] = UInt8(ascii: "X")
        Self.expectError(.badMagic, wrongMagic)
        var wrongVersion = bytes
        wrongVersion[8] = 2
        Self.expectError(.unsupportedFormatVersion, wrongVersion)
        Self.expectError(.trailingBytes, bytes + [0])
    }

    @Test func tensorTableMismatchingTheArchitectureIsRejected() {
        let (_, bytes) = Self.sample()
        // The first tensor name follows the architecture and the tensor count: rename "layer0…" to "layer9…".
        let architectureLength = Int(bytes[20]) | Int(bytes[21]) << 8
        let nameStart = 24 + architectureLength + 4 + 2
        var renamed = bytes
        #expect(renamed[nameStart + 5] == UInt8(ascii: "0"))
        renamed[nameStart + 5] = UInt8(ascii: "9")
        Self.expectError(.tensorMismatch, Self.resealed(renamed))
    }

    @Test func invalidArchitectureIsRejected() {
        let (_, bytes) = Self.sample()
        // Input shape is [1, 12, 12] at architecture offset 2; claim 3 channels so conv1 no longer fits.
        var wrong = bytes
        wrong[24 + 2] = 3
        Self.expectError(.invalidArchitecture, Self.resealed(wrong))
        var unknownTag = bytes
        unknownTag[24 + 2 + 12 + 4] = 99
        Self.expectError(.invalidArchitecture, Self.resealed(unknownTag))
    }

    @Test func nonFiniteParametersAreRejected() {
        let (_, bytes) = Self.sample()
        var poisoned = bytes
        let nan = Float.nan.bitPattern.littleEndian
        let start = bytes.count - 32 - 4
        withUnsafeBytes(of: nan) { for i in 0..<4 { poisoned[start + i] = $0[i] } }
        Self.expectError(.nonFiniteValue, Self.resealed(poisoned))
    }
}
