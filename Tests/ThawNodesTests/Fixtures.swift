import Foundation
import ThawNN

@testable import ThawNodes

/// Small builders shared by the ThawNodes unit tests.
enum Fixture {
    static func activation(_ count: Int, value: Float = 1) -> Activation {
        Activation(shape: [count], scalars: Array(repeating: value, count: count))
    }

    static func state(
        version: UInt64 = 1, freeze: Int = 3, hyper: String = "h1", epoch: UInt64 = 1, hash: String? = nil
    ) -> DeploymentState {
        DeploymentState(
            modelVersion: ModelVersion(version), modelHash: hash ?? "model-\(version)",
            freezePoint: FreezePoint(freeze),
            hyperParameterHash: hyper, epoch: epoch)
    }

    static func stamp(version: UInt64 = 1, freeze: Int = 3, hyper: String = "h1") -> ActivationStamp {
        ActivationStamp(
            modelVersion: ModelVersion(version), freezePoint: FreezePoint(freeze), hyperParameterHash: hyper)
    }

    static func entry(
        _ id: UInt64, annotated: Bool = true, bytes: Int = 40, stamp: ActivationStamp = Fixture.stamp(),
        createdAt: UInt64 = 0, checkpoints: [Int: Activation] = [:], upload: UploadState = .pending
    ) -> CachedActivation {
        CachedActivation(
            sampleId: id, label: Int(id % 10), annotated: annotated, activation: activation(bytes / 4), stamp: stamp,
            createdAt: Timestamp(milliseconds: createdAt), checkpoints: checkpoints, upload: upload)
    }

    static func at(_ seconds: Double) -> Timestamp { Timestamp(milliseconds: UInt64(seconds * 1000)) }

    /// A fresh directory under /tmp, removed by the caller's `defer`.
    static func temporaryDirectory() throws -> URL {
        let url = URL(fileURLWithPath: "/tmp/thaw-nodes-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
