import ThawData
import ThawLearning
import ThawNN
import ThawNodes

/// Every personalisation strategy side by side, per test writer, measured on the writer's held-out samples
/// with what the phone would actually run:
///
/// - `general`: the general model;
/// - `head`: Thaw's head as shipped before the gate (fine-tuned on all the writer's adaptation samples,
///   always swapped in);
/// - `local-ft`: FedAvg + local fine-tuning's last step: the phone fine-tunes the head on all its samples
///   for a few epochs (the global model here is the same centrally trained general model);
/// - `knn-per`: no training; kNN over the phone's cached activations mixed with the general model;
/// - `l2sp`, `l2sp+replay`: heads trained on the training share (adaptation minus the gate's validation
///   share) with L2-SP toward the general head, and with a replay of general-population activations;
/// - `interp`: the plain head trained on the training share, interpolated halfway (`interpolation`) back
///   toward the general head (``HeadInterpolation``), which is what workers commit;
/// - `counted:<x>`: the gate without its likelihood tie-break (swap only when right on more validation
///   samples; the rule before) judging `<x>`;
/// - `gated:<x>`: the phone's ``HeadSwapGate`` (with the tie-break) decides on its validation share whether
///   `<x>` replaces the general head; the held-out accuracy is that of the head kept.
///
/// The validation share is chosen exactly as a gated phone does (`gate.isValidation(sampleId:)` on the
/// sample's index in the test set) and is never used to train the candidates that the gate judges.
public struct PersonalizationStudy {
    public struct Configuration: Sendable {
        public var freezePoint: FreezePoint
        public var epochs: Int = 20
        public var batchSize: Int = 16
        public var learningRate: Float = 0.01
        public var momentum: Float = 0.9
        /// L2-SP strength toward the general head.
        public var l2sp: Float = 0.1
        /// Replay samples per training sample of the user, drawn from `replayPool` training-writer activations.
        public var replayRatio: Double = 1
        public var replayPool: Int = 2000
        /// Weight of the trained head in `interp` (``HeadInterpolation``; 1 = the trained head itself).
        public var interpolation: Float = 0.5
        public var gate = HeadSwapGate()
        public var knnK: Int = 5
        public var knnWeight: Double = 0.5
        public var fineTuneEpochs: Int = 5
        public var splitter = UserSplitter()
        public var seed: UInt64 = 1

        public init(freezePoint: FreezePoint) { self.freezePoint = freezePoint }
    }

    public struct WriterResult: Sendable, Codable {
        public var writer: UInt16
        /// All the writer's test samples (adaptation + held-out).
        public var samples: Int
        public var adaptation: Int
        public var validation: Int
        public var heldOut: Int
        /// Variant → held-out accuracy of what the phone runs.
        public var accuracy: [String: Double]
        /// Gated variant → whether the gate swapped the candidate in.
        public var swapped: [String: Bool]
    }

    /// Candidates a gate judges, in table order.
    public static let gatedCandidates = ["head", "l2sp", "l2sp+replay", "interp", "knn-per"]

    public static let variants = ["general", "head", "local-ft", "knn-per", "l2sp", "l2sp+replay", "interp"]
        + gatedCandidates.map { "counted:" + $0 } + gatedCandidates.map { "gated:" + $0 }

    public let configuration: Configuration

    public init(configuration: Configuration) { self.configuration = configuration }

    /// Runs every variant for `writers` (default: every test writer); `progress(done, total)` and
    /// `finished(result)` after each (a long run can be read before it ends).
    public func run(general: Model, dataset: HandwritingDataset, writers: [UInt16]? = nil,
                    progress: (Int, Int) -> Void = { _, _ in },
                    finished: (WriterResult) -> Void = { _ in }) -> [WriterResult] {
        let c = configuration
        let k = c.freezePoint
        let test = dataset.test
        var counting = c.gate
        counting.tieBreakConfidence = nil
        // The phones' cache: every test sample's activation at k, computed once.
        let activations = Batching.backboneActivations(general, input: Batching.images(test), freezePoint: k)
        // The cloud's general-population activations at the same freeze point (training writers only).
        var poolIndices = Array(0..<dataset.train.count)
        var poolGenerator = SeededGenerator.derived(seed: c.seed, stream: 0x5245_504C)
        poolIndices.shuffle(using: &poolGenerator)
        poolIndices = Array(poolIndices.prefix(c.replayPool))
        let pool = Batching.backboneActivations(
            general, input: Batching.images(dataset.train, poolIndices), freezePoint: k)
        let poolLabels = dataset.train.intLabels(poolIndices)
        let generalHead = general.headParameters(from: k)
        let model = general.copy()
        let chosen = writers ?? test.writerIDs
        var results: [WriterResult] = []
        for (number, writer) in chosen.enumerated() {
            let split = c.splitter.split(test, writer: writer)
            let validation = split.adaptation.filter { c.gate.isValidation(sampleId: UInt64($0)) }
            let training = split.adaptation.filter { !c.gate.isValidation(sampleId: UInt64($0)) }
            let heldOut = split.evaluation
            let heldOutInputs = activations.gatheringRows(heldOut)
            let heldOutLabels = test.intLabels(heldOut)
            let validationInputs = activations.gatheringRows(validation)
            let validationLabels = test.intLabels(validation)
            let seed = c.seed ^ UInt64(writer)

            func accuracy(_ probabilities: [[Double]]) -> Double {
                guard !heldOutLabels.isEmpty else { return 0 }
                // The predicted class is the first most likely one, as in `Model.predict`.
                let right = zip(probabilities, heldOutLabels).filter { row, label in
                    row.indices.first { row[$0] == row.max() } == label
                }.count
                return Double(right) / Double(heldOutLabels.count)
            }
            func probabilities(head: [Float], _ inputs: Tensor) -> [[Double]] {
                guard inputs.batchSize > 0 else { return [] }
                model.setHeadParameters(head, from: k)
                return Softmax.probabilities(model.forward(inputs, layers: k.index..<model.layerCount, training: false))
            }
            func train(_ indices: [Int], epochs: Int, l2sp: Float, replay: Bool) -> [Float] {
                model.setHeadParameters(generalHead, from: k)
                var inputs = activations.gatheringRows(indices)
                var labels = test.intLabels(indices)
                if replay, c.replayRatio > 0, pool.batchSize > 0 {
                    var generator = SeededGenerator.derived(seed: seed, stream: 0x5250)
                    let count = Int((Double(indices.count) * c.replayRatio).rounded())
                    let drawn = (0..<count).map { _ in Int.random(in: 0..<pool.batchSize, using: &generator) }
                    inputs = Tensor.concatenatingRows([inputs, pool.gatheringRows(drawn)])
                    labels += drawn.map { poolLabels[$0] }
                }
                let sgd = SGD(learningRate: c.learningRate, momentum: c.momentum)
                var optimizer = AnchoredOptimizer(base: sgd, anchor: generalHead, strength: l2sp)
                MinibatchTrainer(epochs: epochs, batchSize: c.batchSize, seed: seed).train(
                    model, inputs: inputs, labels: labels, freezePoint: k, optimizer: &optimizer)
                return model.headParameters(from: k)
            }

            var accuracyOf: [String: Double] = [:]
            var swapped: [String: Bool] = [:]
            let generalHeldOut = probabilities(head: generalHead, heldOutInputs)
            let generalValidation = probabilities(head: generalHead, validationInputs)
            accuracyOf["general"] = accuracy(generalHeldOut)
            accuracyOf["head"] = accuracy(probabilities(
                head: train(split.adaptation, epochs: c.epochs, l2sp: 0, replay: false), heldOutInputs))
            accuracyOf["local-ft"] = accuracy(probabilities(
                head: train(split.adaptation, epochs: c.fineTuneEpochs, l2sp: 0, replay: false), heldOutInputs))

            // Gated candidates: trained on the training share only, judged on the validation share by the
            // gate with and without its likelihood tie-break.
            func judge(_ name: String, heldOut candidateHeldOut: [[Double]], validation candidateValidation: [[Double]]) {
                let evidence = HeadSwapGate.Evidence(
                    labels: validationLabels, currentProbabilities: generalValidation,
                    candidateProbabilities: candidateValidation)
                for (prefix, gate) in [("counted:", counting), ("gated:", c.gate)] {
                    let swap = gate.decide(evidence).swaps
                    swapped[prefix + name] = swap
                    accuracyOf[prefix + name] = swap ? accuracy(candidateHeldOut) : accuracyOf["general"]!
                }
            }
            func trainedCandidate(_ name: String, l2sp: Float, replay: Bool, interpolation: Float = 1) {
                let trained = train(training, epochs: c.epochs, l2sp: l2sp, replay: replay)
                let head = HeadInterpolation.interpolate(anchor: generalHead, trained: trained, weight: interpolation)
                let heldOutProbabilities = probabilities(head: head, heldOutInputs)
                if name != "head" { accuracyOf[name] = accuracy(heldOutProbabilities) }
                judge(name, heldOut: heldOutProbabilities, validation: probabilities(head: head, validationInputs))
            }
            trainedCandidate("head", l2sp: 0, replay: false)
            trainedCandidate("l2sp", l2sp: c.l2sp, replay: false)
            trainedCandidate("l2sp+replay", l2sp: c.l2sp, replay: true)
            trainedCandidate("interp", l2sp: 0, replay: false, interpolation: c.interpolation)

            // kNN-Per: the datastore is the phone's cached activations (all of them ungated; the training
            // share when the gate judges it).
            model.setHeadParameters(generalHead, from: k)
            let heldOutLogits = model.forward(heldOutInputs, layers: k.index..<model.layerCount, training: false)
            let allStore = NearestNeighbours(
                k: c.knnK, store: activations.gatheringRows(split.adaptation), labels: test.intLabels(split.adaptation))
            accuracyOf["knn-per"] = accuracy(allStore.mixedProbabilities(
                heldOutInputs, generalLogits: heldOutLogits, weight: c.knnWeight))
            let trainStore = NearestNeighbours(
                k: c.knnK, store: activations.gatheringRows(training), labels: test.intLabels(training))
            let knnValidation = validation.isEmpty ? [] : trainStore.mixedProbabilities(
                validationInputs,
                generalLogits: model.forward(validationInputs, layers: k.index..<model.layerCount, training: false),
                weight: c.knnWeight)
            judge("knn-per", heldOut: trainStore.mixedProbabilities(heldOutInputs, generalLogits: heldOutLogits, weight: c.knnWeight),
                  validation: knnValidation)

            results.append(WriterResult(
                writer: writer, samples: split.adaptation.count + heldOut.count, adaptation: split.adaptation.count,
                validation: validation.count, heldOut: heldOut.count, accuracy: accuracyOf, swapped: swapped))
            finished(results[results.count - 1])
            progress(number + 1, chosen.count)
        }
        return results
    }

    /// One variant over a set of writers.
    public struct Summary: Sendable, Codable {
        public var variant: String
        public var writers: Int
        public var meanAccuracy: Double
        public var meanError: Double
        /// Relative cut of the mean per-writer error against `general` (0.15 = 15 % fewer errors).
        public var errorCut: Double
        public var improved: Int
        public var worse: Int
        /// Gated variants: how often the candidate was swapped in, and how often a swap was worse on the
        /// held-out samples than the general head (the measured false-swap count).
        public var swaps: Int?
        public var falseSwaps: Int?
    }

    /// Summaries of every variant over `results`.
    public static func summarize(_ results: [WriterResult]) -> [Summary] {
        let baseline = results.map { 1 - ($0.accuracy["general"] ?? 0) }
        let baselineError = baseline.isEmpty ? 0 : baseline.reduce(0, +) / Double(baseline.count)
        return variants.map { variant in
            let accuracies = results.map { $0.accuracy[variant] ?? 0 }
            let meanAccuracy = accuracies.isEmpty ? 0 : accuracies.reduce(0, +) / Double(accuracies.count)
            let meanError = 1 - meanAccuracy
            let improved = results.filter { ($0.accuracy[variant] ?? 0) > ($0.accuracy["general"] ?? 0) + 1e-12 }.count
            let worse = results.filter { ($0.accuracy[variant] ?? 0) < ($0.accuracy["general"] ?? 0) - 1e-12 }.count
            var swaps: Int?
            var falseSwaps: Int?
            if variant.hasPrefix("gated:") || variant.hasPrefix("counted:") {
                let swappedIn = results.filter { $0.swapped[variant] == true }
                swaps = swappedIn.count
                falseSwaps = swappedIn.filter { ($0.accuracy[variant] ?? 0) < ($0.accuracy["general"] ?? 0) - 1e-12 }.count
            }
            return Summary(
                variant: variant, writers: results.count, meanAccuracy: meanAccuracy, meanError: meanError,
                errorCut: baselineError > 0 ? (baselineError - meanError) / baselineError : 0, improved: improved,
                worse: worse, swaps: swaps, falseSwaps: falseSwaps)
        }
    }
}
