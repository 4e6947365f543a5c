import Yams

extension RoleOptions {
    /// Reads `options:` of a node whose role is known; absent fields keep their defaults.
    static func decode(_ node: MappingReader, role: Role) throws(TopologyError) -> RoleOptions {
        switch role {
        case .coordinator:
            var options = CoordinatorOptions()
            guard let reader = try node.mapping("options", keys: ["freeze-point", "heartbeat-interval", "auto-freeze"]) else { return .coordinator(options) }
            options.freezePoint = try reader.int("freeze-point", in: 0...1000) ?? options.freezePoint
            options.heartbeatInterval = try reader.duration("heartbeat-interval") ?? options.heartbeatInterval
            if let text = try? reader.string("auto-freeze"), text == "off" || text == "false" {
                options.autoFreeze = .off
            } else if let policy = try reader.mapping(
                "auto-freeze", keys: ["median-samples", "interval", "min-freeze-point"])
            {
                guard let samples = try policy.int("median-samples", in: 1...100_000_000) else {
                    throw policy.error(.missingKey, nil, "missing required key 'median-samples'")
                }
                let floor = try policy.int("min-freeze-point", in: 1...1000) ?? 1
                guard floor <= options.freezePoint else {
                    throw policy.error(
                        .outOfRange, "min-freeze-point", "\(floor) is above the initial freeze-point \(options.freezePoint)")
                }
                options.autoFreeze = .thaw(
                    medianSamples: samples, interval: try policy.duration("interval") ?? .seconds(600),
                    minimumFreezePoint: floor)
            }
            return .coordinator(options)
        case .registry:
            var options = RegistryOptions()
            guard let reader = try node.mapping("options", keys: ["database", "keep-heads"]) else { return .registry(options) }
            options.database = try reader.string("database") ?? options.database
            options.keepHeads = try reader.int("keep-heads", in: 0...1_000_000) ?? options.keepHeads
            return .registry(options)
        case .worker:
            var options = WorkerOptions()
            let keys = ["epochs", "learning-rate", "optimiser", "momentum", "batch-size", "activation-encoding", "head-interpolation",
                "activation-noise"]
            guard let reader = try node.mapping("options", keys: keys) else { return .worker(options) }
            options.epochs = try reader.int("epochs", in: 1...10_000) ?? options.epochs
            options.learningRate = try reader.double("learning-rate", in: 1e-6...10) ?? options.learningRate
            if let text = try reader.string("optimiser") {
                guard let optimiser = WorkerOptions.Optimiser(rawValue: text) else {
                    let expected = WorkerOptions.Optimiser.allCases.map(\.rawValue).joined(separator: ", ")
                    throw reader.error(.invalidValue, "optimiser", "unknown optimiser '\(text)' (expected one of \(expected))")
                }
                options.optimiser = optimiser
            }
            options.momentum = try reader.double("momentum", in: 0...0.999) ?? options.momentum
            options.batchSize = try reader.int("batch-size", in: 1...65536) ?? options.batchSize
            if let text = try reader.string("activation-encoding") {
                guard let encoding = WorkerOptions.ActivationEncoding(rawValue: text) else {
                    let expected = WorkerOptions.ActivationEncoding.allCases.map(\.rawValue).joined(separator: ", ")
                    throw reader.error(
                        .invalidValue, "activation-encoding", "unknown activation encoding '\(text)' (expected one of \(expected))")
                }
                options.activationEncoding = encoding
            }
            options.headInterpolation = try reader.double("head-interpolation", in: 0.01...1) ?? options.headInterpolation
            options.activationNoise = try decodeActivationNoise(reader)
            return .worker(options)
        case .device:
            return .device(try decodeDevice(node))
        case .monitor:
            var options = MonitorOptions()
            guard let reader = try node.mapping("options", keys: ["interval", "http"]) else { return .monitor(options) }
            options.interval = try reader.duration("interval") ?? options.interval
            options.http = try reader.string("http")
            return .monitor(options)
        case .fedavg:
            return .fedavg(try decodeFedAvg(node))
        }
    }

    /// `activation-noise: off` (or absent) is no noise; otherwise a mapping with both `clip` and `sigma`.
    /// The ranges are ThawWire's `ActivationNoise.clipRange` and `sigmaRange`; a topology that loads
    /// always yields parameters the stamp can carry.
    private static func decodeActivationNoise(_ reader: MappingReader) throws(TopologyError) -> WorkerOptions.ActivationNoise? {
        guard reader.node("activation-noise") != nil else { return nil }
        if let text = try? reader.string("activation-noise") {
            guard text == "off" || text == "false" else {
                throw reader.error(
                    .invalidValue, "activation-noise", "expected 'off' or a mapping { clip: C, sigma: s }, got '\(text)'")
            }
            return nil
        }
        guard let noise = try reader.mapping("activation-noise", keys: ["clip", "sigma"]) else { return nil }
        guard let clip = try noise.double("clip", in: 1e-6...1e6) else {
            throw noise.error(.missingKey, nil, "missing required key 'clip' (the L2 bound of each uploaded row)")
        }
        guard let sigma = try noise.double("sigma", in: 0...1000) else {
            throw noise.error(.missingKey, nil, "missing required key 'sigma' (noise standard deviation ÷ clip)")
        }
        return WorkerOptions.ActivationNoise(clip: clip, sigma: sigma)
    }

    private static func decodeFedAvg(_ node: MappingReader) throws(TopologyError) -> FedAvgOptions {
        var options = FedAvgOptions()
        let keys = [
            "rounds", "client-fraction", "local-epochs", "batch-size", "learning-rate", "round-deadline",
            "report-fraction", "min-clients", "freeze-point",
        ]
        guard let reader = try node.mapping("options", keys: keys) else { return options }
        options.rounds = try reader.int("rounds", in: 1...100_000) ?? options.rounds
        options.clientFraction = try reader.double("client-fraction", in: 1e-6...1) ?? options.clientFraction
        options.localEpochs = try reader.int("local-epochs", in: 1...10_000) ?? options.localEpochs
        options.batchSize = try reader.int("batch-size", in: 1...65536) ?? options.batchSize
        options.learningRate = try reader.double("learning-rate", in: 1e-6...10) ?? options.learningRate
        options.roundDeadline = try reader.duration("round-deadline") ?? options.roundDeadline
        options.reportFraction = try reader.double("report-fraction", in: 1e-6...1) ?? options.reportFraction
        options.minClients = try reader.int("min-clients", in: 0...100_000) ?? options.minClients
        options.freezePoint = try reader.int("freeze-point", in: 0...1000) ?? options.freezePoint
        return options
    }

    private static func decodeDevice(_ node: MappingReader) throws(TopologyError) -> DeviceOptions {
        var options = DeviceOptions()
        guard let reader = try node.mapping("options", keys: ["users", "annotation-share", "head-swap-gate", "battery", "flush"]) else { return options }
        if let users = reader.node("users") {
            if case .scalar(let scalar) = users {
                guard scalar.string == "auto" else {
                    throw reader.error(.invalidValue, "users", "expected 'auto' or a list of user ids, got '\(scalar.string)'")
                }
            } else {
                let ids = try reader.strings("users") ?? []
                guard !ids.isEmpty else { throw reader.error(.invalidValue, "users", "the list of user ids is empty") }
                if let duplicate = Dictionary(grouping: ids, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                    throw reader.error(.invalidValue, "users", "user id '\(duplicate)' is listed twice")
                }
                options.users = .ids(ids)
            }
        }
        options.annotationShare = try reader.double("annotation-share", in: 0...1) ?? options.annotationShare
        switch try reader.string("head-swap-gate") {
        case nil: break
        case "on"?: options.headSwapGate = true
        case "off"?: options.headSwapGate = false
        case let other?: throw reader.error(.invalidValue, "head-swap-gate", "expected 'on' or 'off', got '\(other)'")
        }
        if let battery = try reader.mapping("battery", keys: ["initial-level", "drain-per-sample", "minimum-level", "charge-per-second"]) {
            options.battery.initialLevel = try battery.double("initial-level", in: 0...1) ?? options.battery.initialLevel
            options.battery.drainPerSample = try battery.double("drain-per-sample", in: 0...1) ?? options.battery.drainPerSample
            options.battery.minimumLevel = try battery.double("minimum-level", in: 0...1) ?? options.battery.minimumLevel
            options.battery.chargePerSecond = try battery.double("charge-per-second", in: 0...1) ?? options.battery.chargePerSecond
        }
        if let flush = try reader.mapping("flush", keys: ["samples", "interval"]) {
            options.flush.samples = try flush.int("samples", in: 1...1_000_000) ?? options.flush.samples
            options.flush.interval = try flush.duration("interval") ?? options.flush.interval
        }
        return options
    }
}
