import ThawNN

@testable import ThawNodes

/// Helpers that pick actions out of a device's action lists.
extension [DeviceAction] {
    var sentBatches: [DeviceBatch] {
        compactMap { if case .sendBatch(let batch) = $0 { return batch } else { return nil } }
    }

    var computedSamples: [UInt64] {
        compactMap { if case .computeBackbone(let id, _, _, _) = $0 { return id } else { return nil } }
    }

    var rebuildPlan: RebuildPlan? {
        lazy.compactMap { if case .rebuildActivations(let plan) = $0 { return plan } else { return nil } }.first
    }

    var headRequests: Int { filter { if case .requestHead = $0 { return true } else { return false } }.count }

    var persists: Int { filter { if case .persistCache = $0 { return true } else { return false } }.count }
}

extension DeviceStateMachine {
    /// A device with a known deployment (v1, k=3, "h1", epoch 1) and a small flush threshold.
    static func ready(
        minimumBatch: Int = 2, checkpoints: [Int] = [],
        battery: BatteryModel = .init(capacityJoules: 1000, levelJoules: 1000)
    ) -> DeviceStateMachine {
        var device = DeviceStateMachine(
            configuration: DeviceConfiguration(
                layerCount: 6, checkpointLayers: checkpoints,
                flush: FlushPolicy(minimumBatteryPercent: 20, minimumBatch: minimumBatch, maximumAge: .seconds(60)),
                retry: .init(initialDelay: .seconds(2), maximumDelay: .seconds(8)), headPullInterval: .seconds(30),
                battery: battery))
        _ = device.deploymentObserved(Fixture.state(), now: Fixture.at(0))
        return device
    }

    /// Delivers an annotated sample and its backbone output under the current deployment.
    mutating func addAnnotated(_ id: UInt64, checkpoints: [Int: Activation] = [:], now: Double = 0) {
        _ = sampleArrived(sampleId: id, annotated: true, label: Int(id), now: Fixture.at(now))
        let state = deployment!
        _ = backboneComputed(
            sampleId: id, activation: Fixture.activation(4, value: Float(id)), checkpoints: checkpoints,
            modelVersion: state.modelVersion, freezePoint: state.freezePoint)
    }
}
