// Federated Averaging on the transport: phones join a `thaw fedavg` server, receive the global
// trainable weights for a round and answer with their locally trained weights (DEALER → ROUTER).

/// A phone offers itself as a FedAvg client with `samples` local training samples (nₖ).
public struct FedAvgJoin: Sendable, Equatable {
    public var clientID: String
    public var samples: UInt64

    public init(clientID: String, samples: UInt64) {
        self.clientID = clientID
        self.samples = samples
    }
}

/// The global trainable weights for round `round`, sent to one selected client with the local recipe (E, B, η).
public struct FedAvgModel: Sendable, Equatable {
    public var clientID: String
    /// 1-based round number.
    public var round: UInt64
    public var localEpochs: UInt32
    public var batchSize: UInt32
    public var learningRate: Float
    public var freezePoint: UInt32
    /// The flat vector of the trainable layers `[freezePoint, L)` (rank 1).
    public var weights: WireTensor

    public init(
        clientID: String, round: UInt64, localEpochs: UInt32, batchSize: UInt32, learningRate: Float,
        freezePoint: UInt32, weights: WireTensor
    ) {
        self.clientID = clientID
        self.round = round
        self.localEpochs = localEpochs
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.freezePoint = freezePoint
        self.weights = weights
    }
}

/// A client's locally trained weights for round `round`, trained on `samples` samples.
public struct FedAvgUpdate: Sendable, Equatable {
    public var clientID: String
    public var round: UInt64
    public var samples: UInt64
    /// Mean training loss of the last local epoch.
    public var loss: Double
    /// The flat trained vector (rank 1), the same length as the model's.
    public var weights: WireTensor

    public init(clientID: String, round: UInt64, samples: UInt64, loss: Double, weights: WireTensor) {
        self.clientID = clientID
        self.round = round
        self.samples = samples
        self.loss = loss
        self.weights = weights
    }
}
