import Foundation
import ThawData
import ThawLearning
import ThawNN
import ThawNodes
import ThawWire

/// What activation noise costs and what it buys (issue #17, docs/PRIVACY.md).
///
/// Cost: held-out writers are personalised exactly as ``PersonalizationExperiment`` does Thaw's heads,
/// from the activations the worker decodes after the phone clipped, noised and encoded them; each head
/// is evaluated on the writer's held-out samples with the phone's clean activations. One row per
/// (encoding, noise setting), mean per-writer accuracy, every writer compared with its own head trained
/// on clean float32 uploads.
///
/// Benefit: an honest-but-curious cloud that holds public data (the training writers' images) and the
/// public backbone fits a linear decoder (``RidgeDecoder``) from activations at the freeze point back to
/// pixels, knowing the deployment's clip and sigma (they are in the stamp): it clips its public
/// activations the same way and widens its ridge by the noise variance, which is the best linear
/// decoder for noised inputs in expectation. It decodes the held-out writers' uploaded rows; we report
/// pixel error, how often the reconstruction's nearest image among all the attacked uploads is the
/// right one (re-identification), and how often the base model reads the right digit off it.
public struct ActivationNoiseStudy {
    public struct Configuration: Sendable {
        public var freezePoint = FreezePoint(7)
        public var writers: [UInt16]
        public var splitter = UserSplitter()
        /// Noise scales to measure; 0 clips without noise. A row without clipping or noise ("off") is
        /// always measured first.
        public var sigmas: [Double] = [0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2]
        public var encodings: [ActivationEncoding] = [.float32]
        /// The clip bound; nil: the `clipQuantile` quantile of per-row L2 norms of the public activations.
        public var clip: Double?
        public var clipQuantile = 0.9
        /// Thaw's per-user head training, as in ``PersonalizationExperiment``.
        public var epochs = 20
        public var batchSize = 16
        public var learningRate: Float = 0.01
        public var momentum: Float = 0.9
        /// Public (training-writer) samples the attacker fits its decoder on.
        public var publicSamples = 10_000
        /// Uploaded rows attacked (the first ones, writer by writer); also the re-identification pool.
        public var attackSamples = 2_000
        /// The decoder's ridge without noise, relative to the mean diagonal of the public Gram matrix.
        public var relativeRidge = 1e-3
        public var noiseKey = UploadNoiseKey(secret: 0x5EED_0F_A015E)

        public init(writers: [UInt16]) { self.writers = writers }
    }

    /// One (encoding, noise) row of the accuracy table.
    public struct AccuracyRow: Sendable, Codable {
        public var encoding: String
        /// nil: no clipping and no noise.
        public var sigma: Double?
        public var meanAccuracy: Double
        /// The head a worker commits by default: base + 0.5 · (trained − base) (``HeadInterpolation``).
        public var meanAccuracyInterpolated: Double
        /// Against the same writer's head from clean float32 uploads.
        public var writersWorse: Int
        public var writersBetter: Int
        public var largestDrop: Double
        public var perWriter: [UInt16: Double]
    }

    /// One noise setting of the reconstruction attack (float32 uploads).
    public struct AttackRow: Sendable, Codable {
        public var sigma: Double?
        /// Mean squared error per pixel (pixels in [0, 1]) and the PSNR it gives (10·log10(1/MSE)).
        public var mse: Double
        public var psnr: Double
        /// Share of reconstructions whose nearest image among the attacked uploads is their own.
        public var reidentification: Double
        /// Share of reconstructions the base model classifies as their true digit.
        public var digitAccuracy: Double
        /// The ridge the decoder used (absolute).
        public var lambda: Double
    }

    public struct Report: Sendable, Codable {
        public var writers: [UInt16]
        public var freezePoint: Int
        public var activationValues: Int
        public var clip: Double
        public var clipQuantile: Double?
        /// Quantiles (10, 50, 90, 99 %) of per-row L2 norms of the public activations.
        public var normQuantiles: [Double]
        public var baseAccuracy: Double
        public var accuracy: [AccuracyRow]
        public var attack: [AttackRow]
        public var publicSamples: Int
        public var attackedSamples: Int
        /// The attack's reference points: predicting the mean public image, and chance re-identification.
        public var meanImageMSE: Double
        public var chanceReidentification: Double
        /// The base model's accuracy on the attacked rows' true images.
        public var digitAccuracyOnOriginals: Double
        public var seconds: Double
    }

    public var configuration: Configuration

    public init(configuration: Configuration) { self.configuration = configuration }

    /// Runs both halves on `dataset`: its training writers are the attacker's public data, its test
    /// writers (``Configuration/writers``) the users. `progress` receives one line per finished step.
    public func run(base: Model, dataset: HandwritingDataset, progress: (String) -> Void) -> Report {
        let clock = ContinuousClock()
        let started = clock.now
        let k = configuration.freezePoint
        let width = Tensor.elementCount(base.architecture.activationShape(at: k.index))

        // The attacker's public data, and the clip bound from its norms.
        let train = dataset.train
        let stride = max(1, train.count / max(1, configuration.publicSamples))
        let publicIndices = Array(Swift.stride(from: 0, to: train.count, by: stride).prefix(configuration.publicSamples))
        let publicImages = Batching.images(train, publicIndices)
        let publicActivations = Batching.backboneActivations(base, input: publicImages, freezePoint: k)
        let norms = Self.rowNorms(publicActivations.scalars, width: width).sorted()
        let quantiles = [0.1, 0.5, 0.9, 0.99].map { Self.quantile(norms, $0) }
        let clip = configuration.clip ?? Self.quantile(norms, configuration.clipQuantile)
        progress(
            "public activations: \(publicIndices.count) rows of \(width) values; L2 norm quantiles 10/50/90/99 % "
                + quantiles.map { format($0) }.joined(separator: "/") + "; clip \(format(clip))")

        // The users, as the personalisation experiment prepares them.
        var experimentConfiguration = PersonalizationExperiment.Configuration(
            freezePoint: k, users: configuration.writers, splitter: configuration.splitter, fedAvg: FedAvgSettings(),
            thawEpochs: configuration.epochs, thawBatchSize: configuration.batchSize,
            thawLearningRate: configuration.learningRate, thawMomentum: configuration.momentum)
        experimentConfiguration.noiseKey = configuration.noiseKey
        let experiment = PersonalizationExperiment(configuration: experimentConfiguration)
        let users = experiment.prepare(base: base, samples: dataset.test)
        progress("prepared \(users.count) writers (\(users.map(\.labels.count).reduce(0, +)) uploaded rows)")

        // Cost: accuracy for every encoding and noise setting.
        let settings: [ActivationNoise?] = [nil] + configuration.sigmas.map { try? ActivationNoise(clip: clip, sigma: $0) }
        var reference: [Double]?
        var baseAccuracy = 0.0
        var accuracy: [AccuracyRow] = []
        for encoding in [ActivationEncoding.float32] + configuration.encodings.filter({ $0 != .float32 }) {
            for noise in settings {
                var variant = experiment
                variant.configuration.activationEncoding = encoding
                variant.configuration.activationNoise = noise
                let run = variant.finalHeads(base: base, users: users, interpolation: 0.5)
                baseAccuracy = run.base.reduce(0, +) / Double(max(1, run.base.count))
                let finals = run.trained
                let baseline = reference ?? finals
                reference = baseline
                let drops = zip(baseline, finals).map { $0 - $1 }
                let row = AccuracyRow(
                    encoding: encoding.rawValue, sigma: noise?.sigma,
                    meanAccuracy: finals.reduce(0, +) / Double(max(1, finals.count)),
                    meanAccuracyInterpolated: run.interpolated.reduce(0, +) / Double(max(1, run.interpolated.count)),
                    writersWorse: drops.filter { $0 > 1e-12 }.count, writersBetter: drops.filter { $0 < -1e-12 }.count,
                    largestDrop: max(0, drops.max() ?? 0),
                    perWriter: Dictionary(uniqueKeysWithValues: zip(users.map(\.writer), finals)))
                accuracy.append(row)
                progress(
                    "accuracy \(encoding) sigma \(noise.map { format($0.sigma) } ?? "off"): mean \(format(row.meanAccuracy, 4)), "
                        + "half-way head \(format(row.meanAccuracyInterpolated, 4)), "
                        + "\(row.writersWorse) worse / \(row.writersBetter) better than clean float32")
            }
        }

        // Benefit: the reconstruction attack on float32 uploads.
        var targetImages: [Float] = []
        var targetLabels: [Int] = []
        var targetRows: [(user: Int, row: Int)] = []
        for (index, user) in users.enumerated() where targetRows.count < configuration.attackSamples {
            let split = configuration.splitter.split(dataset.test, writer: user.writer)
            let take = min(split.adaptation.count, configuration.attackSamples - targetRows.count)
            targetImages += dataset.test.floatPixels(Array(split.adaptation.prefix(take)))
            targetLabels += Array(user.labels.prefix(take))
            targetRows += (0..<take).map { (index, $0) }
        }
        let n = targetRows.count
        let pixels = dataset.test.rows * dataset.test.columns
        let imageMean = RidgeDecoder.Statistics.columnMeans(publicImages.scalars, rows: publicIndices.count, columns: pixels)
        let meanImageMSE = Self.mse(
            targetImages, (0..<n).flatMap { _ in imageMean })
        let originals = Tensor(shape: [n, 1, dataset.test.rows, dataset.test.columns], scalars: targetImages)
        let digitAccuracyOnOriginals = base.evaluate(originals, labels: targetLabels).accuracy

        var attack: [AttackRow] = []
        var statistics: (clipped: Bool, value: RidgeDecoder.Statistics)?
        for noise in settings {
            // The attacker clips its public activations like the phones do; the statistics depend only on that.
            let clipped = noise != nil
            if statistics?.clipped != clipped {
                var inputs = publicActivations.scalars
                if let noise {
                    for row in 0..<publicIndices.count { noise.clipRow(&inputs[(row * width)..<((row + 1) * width)]) }
                }
                statistics = (
                    clipped,
                    RidgeDecoder.Statistics(inputs: inputs, outputs: publicImages.scalars, samples: publicIndices.count)
                )
            }
            guard let s = statistics?.value else { continue }
            let deviation = noise?.standardDeviation ?? 0
            let lambda = configuration.relativeRidge * s.meanDiagonal + Double(s.samples) * deviation * deviation
            let decoder = RidgeDecoder(statistics: s, lambda: lambda)
            // What the cloud received: each writer's rows noised as in the accuracy runs.
            var uploads: [Float] = []
            uploads.reserveCapacity(n * width)
            var lastUser = -1
            var uploadedRows: [Float] = []
            for (user, row) in targetRows {
                if user != lastUser {
                    uploadedRows = PersonalizationExperiment.uploaded(
                        users[user].inputs, encoding: .float32, noise: noise, key: configuration.noiseKey,
                        device: "writer-\(users[user].writer)"
                    ).scalars
                    lastUser = user
                }
                uploads += uploadedRows[(row * width)..<((row + 1) * width)]
            }
            var reconstructions = decoder.decode(uploads, rows: n)
            for index in reconstructions.indices { reconstructions[index] = min(1, max(0, reconstructions[index])) }
            let mse = Self.mse(reconstructions, targetImages)
            let reidentified = Self.nearestIsSelf(reconstructions, gallery: targetImages, rows: n, width: pixels)
            let images = Tensor(shape: [n, 1, dataset.test.rows, dataset.test.columns], scalars: reconstructions)
            let row = AttackRow(
                sigma: noise?.sigma, mse: mse, psnr: 10 * log10(1 / mse), reidentification: reidentified,
                digitAccuracy: base.evaluate(images, labels: targetLabels).accuracy, lambda: lambda)
            attack.append(row)
            progress(
                "attack sigma \(noise.map { format($0.sigma) } ?? "off"): MSE \(format(mse, 4)), PSNR \(format(row.psnr)) dB, "
                    + "re-identified \(format(row.reidentification * 100)) %, digits read \(format(row.digitAccuracy * 100)) %")
        }
        return Report(
            writers: users.map(\.writer), freezePoint: k.index, activationValues: width, clip: clip,
            clipQuantile: configuration.clip == nil ? configuration.clipQuantile : nil, normQuantiles: quantiles,
            baseAccuracy: baseAccuracy, accuracy: accuracy, attack: attack, publicSamples: publicIndices.count,
            attackedSamples: n, meanImageMSE: meanImageMSE, chanceReidentification: 1 / Double(max(1, n)),
            digitAccuracyOnOriginals: digitAccuracyOnOriginals, seconds: (clock.now - started) / .seconds(1))
    }

    static func rowNorms(_ values: [Float], width: Int) -> [Double] {
        (0..<(values.count / width)).map { row in
            var sum = 0.0
            for index in (row * width)..<((row + 1) * width) { sum += Double(values[index]) * Double(values[index]) }
            return sum.squareRoot()
        }
    }

    /// The `q` quantile of sorted `values` (nearest rank).
    static func quantile(_ sorted: [Double], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        return sorted[min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))]
    }

    static func mse(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count && !a.isEmpty, "same non-empty length")
        var sum = 0.0
        for index in a.indices {
            let d = Double(a[index]) - Double(b[index])
            sum += d * d
        }
        return sum / Double(a.count)
    }

    /// Share of rows i whose nearest gallery row (L2) is row i: argmax_j 2·rᵢ·gⱼ − ‖gⱼ‖², one GEMM.
    static func nearestIsSelf(_ reconstructions: [Float], gallery: [Float], rows n: Int, width: Int) -> Double {
        var products = [Float](repeating: 0, count: n * n)
        reconstructions.withUnsafeBufferPointer { r in
            gallery.withUnsafeBufferPointer { g in
                products.withUnsafeMutableBufferPointer { p in
                    BLAS.gemm(.none, .transposed, m: n, n: n, k: width, alpha: 2, a: r.baseAddress!, lda: width,
                              b: g.baseAddress!, ldb: width, beta: 0, c: p.baseAddress!, ldc: n)
                }
            }
        }
        let squares = (0..<n).map { j in
            var sum: Float = 0
            for index in (j * width)..<((j + 1) * width) { sum += gallery[index] * gallery[index] }
            return sum
        }
        var hits = 0
        for i in 0..<n {
            var best = 0
            var bestScore = -Float.infinity
            for j in 0..<n {
                let score = products[i * n + j] - squares[j]
                if score > bestScore { (best, bestScore) = (j, score) }
            }
            if best == i { hits += 1 }
        }
        return Double(hits) / Double(max(1, n))
    }
}

/// `value` with `digits` digits after the point, for the progress lines.
private func format(_ value: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", value) }
