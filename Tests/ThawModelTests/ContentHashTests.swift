import Crypto
import Testing
import ThawNN

@testable import ThawModel

@Suite struct ContentHashTests {
    @Test func equalWeightsGiveEqualHashesAndAnyChangeDiffers() {
        let a = Model(architecture: .smallCNN(), seed: 1)
        let b = Model(architecture: .smallCNN(), seed: 1)
        let hash = ContentHash.model(a)
        #expect(hash == ContentHash.model(b))
        #expect(hash.hex.count == 64)
        #expect(ContentHash(hex: hash.hex) == hash)
        #expect(ContentHash(hex: hash.hex.uppercased()) == hash)
        #expect(ContentHash(hex: "xyz") == nil)
        var changed = a.parameters
        changed[changed.count / 2] = changed[changed.count / 2].nextUp
        #expect(ContentHash.model(architecture: a.architecture, parameters: changed) != hash)
        let otherClasses = Model(architecture: .smallCNN(classes: 10), seed: 1)
        #expect(ContentHash.model(otherClasses) == hash)  // same architecture, same seed
        let widerInput = ModelArchitecture(inputShape: [784], layers: [.dense(inputs: 784, outputs: 2)])
        let narrowInput = ModelArchitecture(inputShape: [784], layers: [.dense(inputs: 784, outputs: 2), .relu])
        let parameters = [Float](repeating: 0.5, count: widerInput.parameterCount)
        #expect(
            ContentHash.model(architecture: widerInput, parameters: parameters)
                != ContentHash.model(architecture: narrowInput, parameters: parameters))
    }

    @Test func negativeZeroHashesLikeZero() {
        let architecture = ModelArchitecture.mlpHead(inputs: 2, hidden: 2, depth: 0, classes: 2)
        let zeros = [Float](repeating: 0, count: architecture.parameterCount)
        let negative = zeros.map { -$0 }
        #expect(
            ContentHash.model(architecture: architecture, parameters: zeros)
                == ContentHash.model(architecture: architecture, parameters: negative))
    }

    /// A golden value: the canonical byte order must not change silently (registries store these hashes).
    @Test func hashIsStableAcrossBuilds() {
        let architecture = ModelArchitecture.mlpHead(inputs: 3, hidden: 2, depth: 1, classes: 2)
        let parameters = (0..<architecture.parameterCount).map { Float($0) * 0.25 - 1 }
        let hash = ContentHash.model(architecture: architecture, parameters: parameters)
        #expect(hash.hex == Self.goldenModelHash, "got \(hash.hex)")
    }

    /// The streamed hash (parameters fed through a fixed buffer) equals SHA-256 over the whole canonical
    /// byte string, across chunk boundaries and with −0 in every chunk.
    @Test func streamedHashEqualsTheHashOfTheWholeByteString() {
        let architecture = ModelArchitecture.mlpHead(inputs: 400, hidden: 100, depth: 1, classes: 3)
        let parameters = (0..<architecture.parameterCount).map { $0 % 7_001 == 0 ? -Float(0) : Float($0) * 0.001 - 3 }
        #expect(parameters.count > 2 * 16_384)
        var writer = ByteWriter()
        writer.appendString("THAW-MODEL-1")
        let encoded = ArchitectureEncoding.encode(architecture)
        writer.append(UInt32(encoded.count))
        writer.append(encoded)
        writer.append(UInt64(parameters.count))
        for value in parameters { writer.append(value == 0 ? 0 : value.bitPattern) }  // one value at a time, as specified
        let whole = Array(SHA256.hash(data: writer.bytes))
        #expect(ContentHash.model(architecture: architecture, parameters: parameters).bytes == whole)
    }

    /// Computed independently with Python's hashlib from the layout in docs/MODEL-FORMAT.md.
    static let goldenModelHash = "39f63b7317ebd579dcac193e2855192278b351681d35e52829c42fe6e3963a91"

    @Test func headHashDependsOnWeightsFreezePointAndHeadArchitecture() {
        let model = Model(architecture: .smallCNN(), seed: 2)
        let k = FreezePoint(7)
        let head = model.headParameters(from: k)
        let hash = ContentHash.head(parameters: head, freezePoint: k, architecture: model.architecture)
        #expect(hash == ContentHash.head(parameters: head, freezePoint: k, architecture: model.architecture))
        var tweaked = head
        tweaked[0] += 1
        #expect(ContentHash.head(parameters: tweaked, freezePoint: k, architecture: model.architecture) != hash)
        // A different backbone with the same head shape and weights gives the same head hash.
        let otherBackbone = Model(architecture: .smallCNN(), seed: 99)
        #expect(ContentHash.head(parameters: head, freezePoint: k, architecture: otherBackbone.architecture) == hash)
        // A head cut at another layer is a different head even with the same numbers.
        let deeper = model.headParameters(from: FreezePoint(8))
        #expect(
            ContentHash.head(parameters: deeper, freezePoint: FreezePoint(8), architecture: model.architecture) != hash)
        #expect(ContentHash.model(model) != hash)
    }

    @Test func hyperParameterHashCoversEverySetting() {
        let head = ModelArchitecture.smallCNN().slice(layers: 7..<10)
        let k = FreezePoint(7)
        let sgd = OptimizerConfig.sgd(learningRate: 0.05, momentum: 0.9, weightDecay: 0)
        let base = ContentHash.hyperParameters(
            sgd, headArchitecture: head, freezePoint: k, batchSize: 32, extra: ["epochs": "5", "seed": "1"])
        #expect(
            base
                == ContentHash.hyperParameters(
                    sgd, headArchitecture: head, freezePoint: k, batchSize: 32, extra: ["seed": "1", "epochs": "5"]))
        let variants = [
            ContentHash.hyperParameters(
                .sgd(learningRate: 0.05, momentum: 0.8, weightDecay: 0), headArchitecture: head, freezePoint: k,
                batchSize: 32, extra: ["epochs": "5", "seed": "1"]),
            ContentHash.hyperParameters(
                .adam(learningRate: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0),
                headArchitecture: head, freezePoint: k, batchSize: 32, extra: ["epochs": "5", "seed": "1"]),
            ContentHash.hyperParameters(
                sgd, headArchitecture: head, freezePoint: FreezePoint(8), batchSize: 32,
                extra: ["epochs": "5", "seed": "1"]),
            ContentHash.hyperParameters(
                sgd, headArchitecture: head, freezePoint: k, batchSize: 64, extra: ["epochs": "5", "seed": "1"]),
            ContentHash.hyperParameters(
                sgd, headArchitecture: head, freezePoint: k, batchSize: 32, extra: ["epochs": "6", "seed": "1"]),
            ContentHash.hyperParameters(
                sgd, headArchitecture: .mlpHead(inputs: 784, hidden: 32, depth: 1, classes: 10), freezePoint: k,
                batchSize: 32, extra: ["epochs": "5", "seed": "1"]),
        ]
        #expect(Set(variants + [base]).count == variants.count + 1)
    }
}
