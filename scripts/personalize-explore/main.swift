import Foundation
import Logging
import ThawData
import ThawLearning
import ThawNN
import ThawNodes
import ThawSimulation

// Exploration driver for issue 14 (built by build.sh next to this file, not part of the Thaw package): the
// same PretrainJob / PersonalizationStudy code `thaw pretrain` / `thaw personalize` run, without a release
// build of the whole package; plus `dump`, which writes every candidate head's class probabilities per
// writer (JSON lines) so that gate rules, interpolation weights, validation shares and kNN mixtures can be
// replayed offline by replay.py without training anything again.
//
//   personalize-explore pretrain --threads 2 --epochs 5 --out general.f32     # = thaw pretrain --epochs 5
//        --schedule cosine --shift 1 --seed 1 --threads 2 --evaluate-each-epoch (raw Float32 parameters)
//   personalize-explore study --params MODEL --out results.jsonl [--part i --parts n] [--reverse]
//   personalize-explore dump --params MODEL --out dump.jsonl [--part i --parts n]
//   personalize-explore dump-knn --params MODEL --out knn.jsonl   # kNN over penultimate activations
//
// MODEL is a `thaw pretrain --output` file or raw Float32 parameters; --data DIR (default
// /work/shared/handwriting/mnist-writers) or --shipped; --part i --parts n takes every n-th writer from i.
let args = CommandLine.arguments
func arg(_ name: String) -> String? { args.firstIndex(of: name).flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil } }
BLAS.setThreadCount(Int(arg("--threads") ?? "1")!)
let dataset = args.contains("--shipped") ? try HandwritingDataset.shipped()
    : try HandwritingDataset.load(directory: URL(fileURLWithPath: arg("--data") ?? "/work/shared/handwriting/mnist-writers"))
let arch = ModelArchitecture.fedAvgCNN(classes: 10)

func writeFloats(_ values: [Float], _ path: String) throws {
    try values.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: path))
}
/// Raw Float32 parameters, or a THAWMDL1 model file (parameters are the last count*4 bytes before the SHA-256).
func readParameters(_ path: String) throws -> [Float] {
    let d = try Data(contentsOf: URL(fileURLWithPath: path))
    let count = Model(architecture: arch, seed: 0).parameters.count
    let bytes = d.count == count * 4 ? d : d.subdata(in: (d.count - 32 - count * 4)..<(d.count - 32))
    return bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
}
func jsonLine(_ object: Any, _ path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
    let handle = FileHandle(forWritingAtPath: path)!
    handle.seekToEndOfFile(); handle.write(data + Data("\n".utf8)); try handle.close()
}
func writerOrder() -> [UInt16] {
    var writers = dataset.userIDs
    if let l = arg("--limit").flatMap(Int.init) { writers = Array(writers.prefix(l)) }
    if let part = arg("--part").flatMap(Int.init), let parts = arg("--parts").flatMap(Int.init) {
        writers = writers.enumerated().filter { $0.offset % parts == part }.map(\.element)
    }
    // A second process can walk a part from its end; stop both once they meet (results are merged by writer).
    return args.contains("--reverse") ? writers.reversed() : writers
}

switch args[1] {
case "pretrain":
    // = thaw pretrain --epochs 5 --schedule cosine --shift 1 --seed 1 --threads 2 --evaluate-each-epoch
    let epochs = Int(arg("--epochs") ?? "5")!
    let out = arg("--out")!
    let job = PretrainJob(architecture: arch, epochs: epochs, batchSize: 64, learningRate: 0.05, seed: 1,
                          trainingLimit: nil, schedule: .cosine(floor: 0.01), weightDecay: 0, shift: 1)
    let clock = ContinuousClock()
    let start = clock.now
    var perEpoch: [[String: Double]] = []
    let result = job.run(on: dataset) { epoch, loss, model in
        var row: [String: Double] = ["epoch": Double(epoch + 1), "loss": Double(loss), "seconds": (clock.now - start) / .seconds(1)]
        if epoch + 1 < epochs { row["testAccuracy"] = AccuracyReport.evaluate(model, on: dataset.test).overall }
        perEpoch.append(row)
        try? writeFloats(model.parameters, out + ".e\(epoch + 1)")
        FileHandle.standardError.write(Data("\(row)\n".utf8))
    }
    try writeFloats(result.model.parameters, out)
    let object: [String: Any] = ["testAccuracy": result.test.overall, "seconds": (clock.now - start) / .seconds(1),
                                 "epochLosses": result.epochLosses.map(Double.init), "perEpoch": perEpoch,
                                 "perUser": result.test.perUser.sorted { $0.key < $1.key }.map { ["user": Int($0.key), "accuracy": $0.value] }]
    try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]).write(to: URL(fileURLWithPath: out + ".json"))
    print("test accuracy \(result.test.overall) seconds \((clock.now - start) / .seconds(1))")

case "eval":
    let model = Model(architecture: arch, parameters: try readParameters(arg("--params")!))
    print("test accuracy \(AccuracyReport.evaluate(model, on: dataset.test).overall)")

case "study":
    let general = Model(architecture: arch, parameters: try readParameters(arg("--params")!))
    var c = PersonalizationStudy.Configuration(freezePoint: FreezePoint(7))
    c.splitter = UserSplitter(adaptationFraction: 0.5, seed: 1)
    let writers = writerOrder()
    let start = Date()
    let out = arg("--out")!
    let encoder = JSONEncoder()
    _ = PersonalizationStudy(configuration: c).run(general: general, dataset: dataset, writers: writers, progress: { d, t in
        if d % 10 == 0 { FileHandle.standardError.write(Data("\(d)/\(t) \(Int(Date().timeIntervalSince(start)))s\n".utf8)) }
    }, finished: { result in
        if !FileManager.default.fileExists(atPath: out) { FileManager.default.createFile(atPath: out, contents: nil) }
        if let handle = FileHandle(forWritingAtPath: out), let data = try? encoder.encode(result) {
            handle.seekToEndOfFile(); handle.write(data + Data("\n".utf8)); try? handle.close()
        }
    })
    print("done \(Date().timeIntervalSince(start)) s")

case "dump":
    let general = Model(architecture: arch, parameters: try readParameters(arg("--params")!))
    let k = FreezePoint(7)
    let splitter = UserSplitter(adaptationFraction: 0.5, seed: 1)
    let test = dataset.test
    let activations = Batching.backboneActivations(general, input: Batching.images(test), freezePoint: k)
    let generalHead = general.headParameters(from: k)
    let model = general.copy()
    let out = arg("--out")!
    let start = Date()
    func probs(_ head: [Float], _ x: Tensor) -> [[Float]] {
        guard x.batchSize > 0 else { return [] }
        model.setHeadParameters(head, from: k)
        return Softmax.probabilities(model.forward(x, layers: 7..<model.layerCount, training: false)).map { $0.map { Float($0) } }
    }
    let writers = writerOrder()
    for (number, writer) in writers.enumerated() {
        let split = splitter.split(test, writer: writer)
        let A = split.adaptation
        let H = split.evaluation
        let seed = UInt64(1) ^ UInt64(writer)
        func train(_ indices: [Int], epochs: Int, lr: Float, momentum: Float, batch: Int, l2sp: Float) -> [Float] {
            model.setHeadParameters(generalHead, from: k)
            guard !indices.isEmpty else { return generalHead }
            var optimizer = AnchoredOptimizer(base: SGD(learningRate: lr, momentum: momentum), anchor: generalHead, strength: l2sp)
            MinibatchTrainer(epochs: epochs, batchSize: batch, seed: seed).train(
                model, inputs: activations.gatheringRows(indices), labels: test.intLabels(indices), freezePoint: k, optimizer: &optimizer)
            return model.headParameters(from: k)
        }
        func mix(_ trained: [Float], _ w: Float) -> [Float] { HeadInterpolation.interpolate(anchor: generalHead, trained: trained, weight: w) }
        let xA = activations.gatheringRows(A), xH = activations.gatheringRows(H)
        var record: [String: Any] = ["w": Int(writer), "n": A.count + H.count, "A": A, "yA": test.intLabels(A), "yH": test.intLabels(H)]
        var p: [String: Any] = ["gen": ["A": probs(generalHead, xA), "H": probs(generalHead, xH)]]
        // Heads trained on the training share of each validation share (shares nest: hash < share).
        for share in [0.3, 0.5] {
            let gate = HeadSwapGate(validationShare: share)
            let T = A.filter { !gate.isValidation(sampleId: UInt64($0)) }
            let tag = share == 0.3 ? "s3" : "s5"
            var heads: [String: [Float]] = [:]
            let plain = train(T, epochs: 20, lr: 0.01, momentum: 0.9, batch: 16, l2sp: 0)
            for w: Float in share == 0.3 ? [0.25, 0.5, 0.75, 1] : [0.5, 1] { heads["\(tag)_plain_w\(Int(w * 100))"] = mix(plain, w) }
            if share == 0.3 {
                heads["s3_plain10_w50"] = mix(train(T, epochs: 10, lr: 0.01, momentum: 0.9, batch: 16, l2sp: 0), 0.5)
                heads["s3_worker_w50"] = mix(train(T, epochs: 5, lr: 0.05, momentum: 0, batch: 32, l2sp: 0), 0.5)
                heads["s3_l2sp1"] = train(T, epochs: 20, lr: 0.01, momentum: 0.9, batch: 16, l2sp: 1)
            }
            // Probabilities on every adaptation sample (the analysis picks the validation ones) and held-out.
            for (name, head) in heads { p[name] = ["A": probs(head, xA), "H": probs(head, xH)] }
            // kNN over the training share: raw neighbour votes (mixed with the general model offline).
            let store = NearestNeighbours(k: 5, store: activations.gatheringRows(T), labels: test.intLabels(T))
            p["\(tag)_knn"] = ["A": store.probabilities(xA, classes: 10).map { $0.map { Float($0) } },
                               "H": store.probabilities(xH, classes: 10).map { $0.map { Float($0) } }]
        }
        // kNN over all adaptation samples: held-out votes, and leave-one-out votes on the adaptation samples.
        let all = NearestNeighbours(k: 5, store: xA, labels: test.intLabels(A))
        var loo: [[Float]] = []
        for i in A.indices {
            let rest = A.indices.filter { $0 != i }
            let s = NearestNeighbours(k: 5, store: activations.gatheringRows(rest.map { A[$0] }), labels: rest.map { test.intLabels(A)[$0] })
            loo.append(s.probabilities(activations.gatheringRows([A[i]]), classes: 10)[0].map { Float($0) })
        }
        p["all_knn"] = ["A": loo, "H": all.probabilities(xH, classes: 10).map { $0.map { Float($0) } }]
        record["p"] = p
        try jsonLine(record, out)
        if (number + 1) % 10 == 0 { FileHandle.standardError.write(Data("\(number + 1)/\(writers.count) \(Int(Date().timeIntervalSince(start)))s\n".utf8)) }
    }
    print("done \(Int(Date().timeIntervalSince(start))) s")

case "dump-knn":
    // kNN over the general head's penultimate activations (after the hidden layer's ReLU) instead of the
    // activations at k: per writer the general model's probabilities and k-neighbour votes, leave-one-out on
    // the adaptation digits, over all adaptation digits for the held-out ones.
    let general = Model(architecture: arch, parameters: try readParameters(arg("--params")!))
    let k = FreezePoint(7)
    let penultimate = Int(arg("--penultimate") ?? "9")!
    let splitter = UserSplitter(adaptationFraction: 0.5, seed: 1)
    let test = dataset.test
    let activations = Batching.backboneActivations(general, input: Batching.images(test), freezePoint: k)
    let out = arg("--out")!
    for writer in writerOrder() {
        let split = splitter.split(test, writer: writer)
        let A = split.adaptation, H = split.evaluation
        let xA = activations.gatheringRows(A), xH = activations.gatheringRows(H)
        func probs(_ x: Tensor) -> [[Float]] {
            x.batchSize == 0 ? [] : Softmax.probabilities(general.forward(x, layers: 7..<general.layerCount, training: false)).map { $0.map { Float($0) } }
        }
        let fA = general.forward(xA, layers: 7..<penultimate, training: false)
        let fH = H.isEmpty ? fA : general.forward(xH, layers: 7..<penultimate, training: false)
        let labelsA = test.intLabels(A)
        var p: [String: Any] = ["gen": ["A": probs(xA), "H": probs(xH)]]
        for neighbours in [3, 5, 10] {
            let all = NearestNeighbours(k: neighbours, store: fA, labels: labelsA)
            var loo: [[Float]] = []
            for i in A.indices {
                let rest = A.indices.filter { $0 != i }
                let store = NearestNeighbours(k: neighbours, store: fA.gatheringRows(rest), labels: rest.map { labelsA[$0] })
                loo.append(store.probabilities(fA.gatheringRows([i]), classes: 10)[0].map { Float($0) })
            }
            p["pen_knn\(neighbours)"] = ["A": loo, "H": H.isEmpty ? [] : all.probabilities(fH, classes: 10).map { $0.map { Float($0) } }]
        }
        try jsonLine(["w": Int(writer), "n": A.count + H.count, "A": A, "yA": labelsA, "yH": test.intLabels(H), "p": p], out)
    }

default:
    print("pretrain | eval | study | dump")
}
