// Public FedAvg types ⇄ generated protobuf types, with their semantic checks.

extension FedAvgJoin {
    init(_ proto: Thaw_V1_FedAvgJoin) throws(WireError) {
        try Require.nonEmpty(proto.clientID, "fedavg_join.client_id")
        guard proto.samples > 0 else { throw WireError(.invalidField, "fedavg_join.samples is 0") }
        self.init(clientID: proto.clientID, samples: proto.samples)
    }

    var proto: Thaw_V1_FedAvgJoin {
        var proto = Thaw_V1_FedAvgJoin()
        proto.clientID = clientID
        proto.samples = samples
        return proto
    }
}

extension FedAvgModel {
    init(_ proto: Thaw_V1_FedAvgModel, weights: WireTensor) throws(WireError) {
        try Require.nonEmpty(proto.clientID, "fedavg_model.client_id")
        guard proto.round > 0 else { throw WireError(.invalidField, "fedavg_model.round is 0") }
        guard proto.localEpochs > 0 else { throw WireError(.invalidField, "fedavg_model.local_epochs is 0") }
        guard proto.batchSize > 0 else { throw WireError(.invalidField, "fedavg_model.batch_size is 0") }
        guard proto.learningRate.isFinite, proto.learningRate > 0 else {
            throw WireError(.invalidField, "fedavg_model.learning_rate \(proto.learningRate) is not positive")
        }
        self.init(
            clientID: proto.clientID, round: proto.round, localEpochs: proto.localEpochs, batchSize: proto.batchSize,
            learningRate: proto.learningRate, freezePoint: proto.freezePoint, weights: weights)
    }

    var proto: Thaw_V1_FedAvgModel {
        var proto = Thaw_V1_FedAvgModel()
        proto.clientID = clientID
        proto.round = round
        proto.localEpochs = localEpochs
        proto.batchSize = batchSize
        proto.learningRate = learningRate
        proto.freezePoint = freezePoint
        return proto
    }
}

extension FedAvgUpdate {
    init(_ proto: Thaw_V1_FedAvgUpdate, weights: WireTensor) throws(WireError) {
        try Require.nonEmpty(proto.clientID, "fedavg_update.client_id")
        guard proto.round > 0 else { throw WireError(.invalidField, "fedavg_update.round is 0") }
        guard proto.samples > 0 else { throw WireError(.invalidField, "fedavg_update.samples is 0") }
        self.init(
            clientID: proto.clientID, round: proto.round, samples: proto.samples, loss: proto.loss, weights: weights)
    }

    var proto: Thaw_V1_FedAvgUpdate {
        var proto = Thaw_V1_FedAvgUpdate()
        proto.clientID = clientID
        proto.round = round
        proto.samples = samples
        proto.loss = loss
        return proto
    }
}
