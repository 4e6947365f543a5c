import Foundation
import ThawNN
import ThawWire

/// Maps wire messages to the registry's typed values (the protocol decisions are
/// ``ModelRegistryStateMachine``'s).
enum RegistryWireAdapter {
    static func featureBatch(_ batch: ThawWire.FeatureBatch) -> FeatureBatch {
        let rows = batch.activations.shape.first ?? 0
        let perRow = rows > 0 ? batch.activations.scalars.count / rows : 0
        let rowShape = Array(batch.activations.shape.dropFirst())
        let samples = (0..<min(rows, batch.sampleIDs.count, batch.labels.count)).map { index in
            FeatureSample(
                sampleID: batch.sampleIDs[index], label: Int(batch.labels[index]),
                activations: StoredActivations(
                    shape: rowShape,
                    scalars: Array(batch.activations.scalars[(index * perRow)..<((index + 1) * perRow)])))
        }
        return FeatureBatch(
            user: UserID(batch.userID), device: DeviceID(batch.deviceID), sequence: batch.deviceSeq,
            stamps: FeatureStamps(
                modelVersion: ModelVersion(batch.modelVersion), freezePoint: FreezePoint(Int(batch.freezePoint)),
                hyperParameterHash: batch.hyperHash),
            samples: samples)
    }
}
