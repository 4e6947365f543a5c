/// The architectures Thaw uses: the FedAvg CNN, a small CNN for fast tests, and MLP heads of growing size.
extension ModelArchitecture {
    /// The CNN of McMahan et al. 2017 ("Communication-Efficient Learning of Deep Networks from Decentralized
    /// Data") for 28×28 greyscale images: two 5×5 convolutions (32, 64 channels) with 2×2 max pooling, a
    /// 512-unit dense layer and a linear classifier; 1,663,370 parameters for 10 classes.
    ///
    /// Layer indices: 0 conv, 1 relu, 2 pool, 3 conv, 4 relu, 5 pool, 6 flatten, 7 dense(3136→512), 8 relu,
    /// 9 dense(512→classes). Freeze point 7 caches the 3136-float flattened features.
    public static func fedAvgCNN(classes: Int = 10) -> ModelArchitecture {
        ModelArchitecture(
            inputShape: [1, 28, 28],
            layers: [
                .conv2D(inChannels: 1, outChannels: 32, kernel: 5, stride: 1, padding: 2), .relu,
                .maxPool2D(size: 2, stride: 2),
                .conv2D(inChannels: 32, outChannels: 64, kernel: 5, stride: 1, padding: 2), .relu,
                .maxPool2D(size: 2, stride: 2),
                .flatten,
                .dense(inputs: 3136, outputs: 512), .relu,
                .dense(inputs: 512, outputs: classes),
            ]
        )
    }

    /// A scaled-down FedAvg CNN for fast tests: conv 3×3 (1→8), pool, conv 3×3 (8→16), pool, dense 64.
    ///
    /// Same layer indices as ``fedAvgCNN(classes:)``; freeze point 7 caches 16·7·7 = 784 features.
    public static func smallCNN(classes: Int = 10, inputSide: Int = 28) -> ModelArchitecture {
        let pooled = inputSide / 4
        return ModelArchitecture(
            inputShape: [1, inputSide, inputSide],
            layers: [
                .conv2D(inChannels: 1, outChannels: 8, kernel: 3, stride: 1, padding: 1), .relu,
                .maxPool2D(size: 2, stride: 2),
                .conv2D(inChannels: 8, outChannels: 16, kernel: 3, stride: 1, padding: 1), .relu,
                .maxPool2D(size: 2, stride: 2),
                .flatten,
                .dense(inputs: 16 * pooled * pooled, outputs: 64), .relu,
                .dense(inputs: 64, outputs: classes),
            ]
        )
    }

    /// A stand-alone MLP head: `depth` hidden layers of width `hidden` with ReLU, then a linear classifier.
    ///
    /// `mlpHead(inputs: 3136, hidden: 1024, depth: 2, classes: 10)` is 3136 → 1024 → 1024 → 10. Used to grow the
    /// head's cost for scaling experiments.
    public static func mlpHead(inputs: Int, hidden: Int, depth: Int, classes: Int) -> ModelArchitecture {
        precondition(depth >= 0, "depth must be non-negative")
        var layers: [LayerSpec] = []
        var width = inputs
        for _ in 0..<depth {
            layers.append(.dense(inputs: width, outputs: hidden))
            layers.append(.relu)
            width = hidden
        }
        layers.append(.dense(inputs: width, outputs: classes))
        return ModelArchitecture(inputShape: [inputs], layers: layers)
    }
}
