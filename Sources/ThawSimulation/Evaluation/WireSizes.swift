import ThawNodes
import ThawWire

/// Bytes that Thaw's and FedAvg's messages occupy on the radio, from the real wire encoding.
public enum WireSizes {
    /// A FeatureBatch carrying `samples` activations of `features` floats (Thaw's upload), in `encoding`.
    public static func featureBatch(samples: Int, features: Int, encoding: ActivationEncoding = .float32) -> Int {
        let message = ThawMessage.featureBatch(
            ThawWire.FeatureBatch(
                userID: "writer-0000", deviceID: "device-0000", deviceSeq: 1, modelVersion: 1,
                modelHash: String(repeating: "0", count: 64), freezePoint: 7,
                hyperHash: encoding.stamp(hash: String(repeating: "0", count: 16)),
                sampleIDs: (0..<samples).map(UInt64.init), labels: (0..<samples).map { UInt32($0 % 10) },
                createdAtMs: 1_700_000_000_000,
                activations: WireTensor(
                    shape: [samples, features], scalars: [Float](repeating: 0.5, count: samples * features)),
                activationEncoding: encoding))
        return (try? message.encodedByteCount)
            ?? encoding.byteCount(rows: samples, valuesPerRow: features)
    }

    /// A HeadReply carrying `parameters` head weights (Thaw's download of a personal head, and the size of
    /// a FedAvg model or update message, which carries the same tensor with a smaller header).
    public static func headReply(parameters: Int) -> Int {
        let message = ThawMessage.headReply(
            ThawWire.HeadReply(
                status: .head, userID: "writer-0000", headVersion: 1, parentVersion: 0,
                headHash: String(repeating: "0", count: 64), modelVersion: 1, freezePoint: 7,
                hyperHash: String(repeating: "0", count: 16), durableSeqs: [1],
                headParameters: WireTensor(shape: [parameters], scalars: [Float](repeating: 0.5, count: parameters))))
        return (try? message.encodedByteCount) ?? parameters * 4
    }

    /// A HEAD_DELTA HeadReply whose `head_delta` frame is `deltaBytes` long (docs/PROTOCOL.md, "Head deltas").
    public static func headDeltaReply(deltaBytes: Int) -> Int {
        let message = ThawMessage.headReply(
            ThawWire.HeadReply(
                status: .headDelta, userID: "writer-0000", headVersion: 2, parentVersion: 1,
                headHash: String(repeating: "0", count: 64), modelVersion: 1, freezePoint: 7,
                hyperHash: String(repeating: "0", count: 16), durableSeqs: [1], headParameters: nil,
                deltaBaseHash: String(repeating: "0", count: 64), headDelta: [UInt8](repeating: 0, count: deltaBytes)))
        return (try? message.encodedByteCount) ?? deltaBytes
    }

    /// A head request (a few dozen bytes).
    public static let headRequest: Int = {
        let message = ThawMessage.headRequest(
            ThawWire.HeadRequest(
                userID: "writer-0000", deviceID: "device-0000", haveHash: "", modelVersion: 1, freezePoint: 7))
        return (try? message.encodedByteCount) ?? 64
    }()
}
