/// A sequential network: its architecture, its layers and one flat ``ParameterBuffer``.
///
/// Any contiguous run of layers can be executed: the backbone `[0, k)` on a phone, the head `[k, L)` on a
/// worker, or the layers between two freeze points to move a cached activation deeper. Training touches only
/// the head: ``trainStep(input:labels:freezePoint:optimizer:)`` allocates gradients for the head's parameters
/// and leaves the backbone's bit-identical.
///
/// Memory: every layer keeps the output and input-gradient buffers of its last call and refills them, so a
/// training or inference step in steady state allocates nothing; a model therefore holds about one batch of
/// activations (the largest batch it has seen) between calls.
///
/// Thread rule: not Sendable (layers cache activations); one owner uses it from one thread. To train on
/// another thread, send the parameters (a `[Float]`) and build a model there, or ``copy()`` first.
public final class Model {
    public let architecture: ModelArchitecture
    /// The parameters and the gradient storage.
    public let parameterBuffer: ParameterBuffer
    private let layers: [any Layer]
    /// Per-sample shapes of the L + 1 activations.
    private let activationShapes: [[Int]]
    /// Where each layer's parameters start in the buffer; `layerOffsets[L]` is the total count.
    private let layerOffsets: [Int]
    private let seed: UInt64
    /// Per-sample cost of each layer, for ``executedFLOPs``.
    private let layerCosts: [LayerCost]
    /// Every FLOP this model has executed since it was made (or since ``resetExecutedFLOPs()``), counted per
    /// layer call from ``LayerCost`` and the batch size. Devices read it before and after a piece of work.
    public private(set) var executedFLOPs = FLOPCount()
    /// d loss / d logits of the last training step, kept so that a step allocates nothing.
    var lossGradient = Tensor.unsized

    /// FLOPs the optimiser spends per trained parameter and step: SGD with momentum and weight decay is about
    /// four (decay, momentum, scale, update); Adam spends more, which this count does not distinguish.
    public static let optimizerFLOPsPerParameter = 4

    /// A model with freshly initialised parameters (He normal before a ReLU, Xavier normal for the logits
    /// layer, zero biases), identical for identical seeds.
    ///
    /// - Precondition: `architecture` is valid (see ``ModelArchitecture/validate()``).
    public convenience init(architecture: ModelArchitecture, seed: UInt64) {
        self.init(uninitialized: architecture, seed: seed)
        var generator = SeededGenerator(seed: seed)
        Initialization.initialize(parameterBuffer, architecture: architecture, generator: &generator)
    }

    /// A model over given parameters.
    ///
    /// - Precondition: `architecture` is valid and `parameters.count == architecture.parameterCount`.
    public convenience init(architecture: ModelArchitecture, parameters: [Float], seed: UInt64 = 0) {
        self.init(uninitialized: architecture, seed: seed)
        precondition(
            parameters.count == parameterBuffer.count, "\(parameters.count) parameters for \(parameterBuffer.count)")
        parameterBuffer.values = parameters
    }

    private init(uninitialized architecture: ModelArchitecture, seed: UInt64) {
        do {
            try architecture.validate()
        } catch {
            preconditionFailure("Model over an invalid architecture: \(error)")
        }
        self.architecture = architecture
        self.seed = seed
        self.activationShapes = architecture.activationShapes()
        var offsets = [0]
        for spec in architecture.layers { offsets.append(offsets[offsets.count - 1] + spec.parameterCount) }
        let slices = architecture.parameterSlices()
        self.layerOffsets = offsets
        self.layerCosts = (0..<architecture.layers.count).map { architecture.cost(ofLayer: $0) }
        let buffer = ParameterBuffer(count: offsets[architecture.layers.count], slices: slices)
        self.parameterBuffer = buffer
        self.layers = architecture.layers.enumerated().map { index, spec in
            Model.makeLayer(spec, index: index, buffer: buffer, offset: offsets[index], seed: seed)
        }
    }

    /// L, the number of layers.
    public var layerCount: Int { layers.count }

    /// All parameters, layer by layer (weights then biases), as one flat array.
    public var parameters: [Float] {
        get { parameterBuffer.values }
        set {
            precondition(
                newValue.count == parameterBuffer.count, "\(newValue.count) parameters for \(parameterBuffer.count)")
            parameterBuffer.values = newValue
        }
    }

    /// The layer object at `index` (for inspection and tests).
    public func layer(at index: Int) -> any Layer { layers[index] }

    /// Where the parameters of `layers` sit in ``parameters``.
    public func parameterRange(layers range: Range<Int>) -> Range<Int> {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= layers.count, "layers \(range) outside 0..<\(layers.count)")
        return layerOffsets[range.lowerBound]..<layerOffsets[range.upperBound]
    }

    /// Runs layers `range` on a batch whose samples have the shape of the activation at `range.lowerBound`.
    ///
    /// x: [batch] + activationShape(range.lowerBound) → [batch] + activationShape(range.upperBound).
    public func forward(_ x: Tensor, layers range: Range<Int>, training: Bool) -> Tensor {
        precondition(
            range.lowerBound >= 0 && range.upperBound <= layers.count, "layers \(range) outside 0..<\(layers.count)")
        precondition(
            x.hasSampleShape(activationShapes[range.lowerBound]),
            "input samples \(x.sampleShape) do not match activation \(range.lowerBound) \(activationShapes[range.lowerBound])"
        )
        var activation = x
        for index in range { activation = layers[index].forward(activation, training: training) }
        executedFLOPs.forward += range.reduce(0) { $0 + layerCosts[$1].forwardFLOPs(samples: x.batchSize) }
        return activation
    }

    /// Records FLOPs of a backward pass through layer `index` (called by training code next to each backward).
    func countBackward(layer index: Int, samples: Int, includingInputGradient: Bool) {
        executedFLOPs.backward += layerCosts[index].backwardFLOPs(
            samples: samples, includingInputGradient: includingInputGradient)
    }

    /// Records an optimiser step over `parameters` parameters.
    func countOptimizerStep(parameters: Int) {
        executedFLOPs.optimizer += Model.optimizerFLOPsPerParameter * parameters
    }

    /// Starts the FLOP counter from zero.
    public func resetExecutedFLOPs() { executedFLOPs = FLOPCount() }

    /// Inference through every layer: raw input to logits.
    public func forward(_ x: Tensor) -> Tensor { forward(x, layers: 0..<layers.count, training: false) }

    /// The predicted class of each sample, from the activation at `freezePoint` (0: raw input).
    public func predict(_ x: Tensor, from freezePoint: FreezePoint = FreezePoint(0)) -> [Int] {
        var predictions: [Int] = []
        predictions.reserveCapacity(x.batchSize)
        var start = 0
        while start < x.batchSize {
            let end = min(start + Model.inferenceChunk, x.batchSize)
            let logits = forward(x.rows(start..<end), layers: freezePoint.index..<layers.count, training: false)
            predictions.append(contentsOf: Classification.argmax(logits))
            start = end
        }
        return predictions
    }

    /// Mean loss and accuracy on labelled samples given as activations at `freezePoint`, without training.
    public func evaluate(_ x: Tensor, labels: [Int], from freezePoint: FreezePoint = FreezePoint(0))
        -> (loss: Float, accuracy: Double)
    {
        precondition(labels.count == x.batchSize, "\(labels.count) labels for \(x.batchSize) samples")
        var weightedLoss = 0.0
        var predictions: [Int] = []
        var start = 0
        while start < x.batchSize {
            let end = min(start + Model.inferenceChunk, x.batchSize)
            let logits = forward(x.rows(start..<end), layers: freezePoint.index..<layers.count, training: false)
            let loss = SoftmaxCrossEntropy.loss(logits: logits, labels: Array(labels[start..<end]))
            weightedLoss += Double(loss) * Double(end - start)
            predictions.append(contentsOf: Classification.argmax(logits))
            start = end
        }
        let accuracy = Classification.accuracy(predictions: predictions, labels: labels)
        return (Float(weightedLoss / Double(max(1, x.batchSize))), accuracy)
    }

    /// Inference runs in chunks of this many samples to bound activation memory.
    static let inferenceChunk = 256

    private static func makeLayer(
        _ spec: LayerSpec, index: Int, buffer: ParameterBuffer, offset: Int, seed: UInt64
    ) -> any Layer {
        switch spec {
        case .dense(let inputs, let outputs):
            return Dense(inputs: inputs, outputs: outputs, parameters: buffer, offset: offset)
        case .conv2D(let inChannels, let outChannels, let kernel, let stride, let padding):
            return Conv2D(
                inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding,
                parameters: buffer, offset: offset)
        case .relu: return ReLU()
        case .maxPool2D(let size, let stride): return MaxPool2D(size: size, stride: stride)
        case .flatten: return Flatten()
        case .dropout(let rate):
            return Dropout(rate: rate, generator: .derived(seed: seed, stream: UInt64(index) + 1))
        }
    }

    /// A deep copy with the same architecture and parameters and fresh layer caches.
    public func copy() -> Model {
        Model(architecture: architecture, parameters: parameterBuffer.values, seed: seed)
    }
}
