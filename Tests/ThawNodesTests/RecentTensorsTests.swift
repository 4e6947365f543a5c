import Foundation
import Testing
import ThawWire

@testable import ThawNodes

/// The device process decodes a head its phones pull together once: later equal replies share the
/// first one's array (``RecentTensors`` offers it, the codec compares it with the frame).
@Suite struct RecentTensorsTests {
    static func reply(_ scalars: [Float], device: UInt64) throws -> [[UInt8]] {
        let reply = HeadReply(
            status: .head, userID: "writer-3", headVersion: 4, parentVersion: 3, headHash: "h", modelVersion: 1,
            freezePoint: 7, hyperHash: "x", durableSeqs: [device], headParameters: WireTensor(flat: scalars))
        return try WireCodec.encode(.headReply(reply), metadata: WireMetadata(sender: "r", sequence: device, sentAtUnixMs: 0))
    }

    /// What the fleet's decode queue does with a registry reply.
    static func decode(_ frames: [[UInt8]], with recent: RecentTensors) throws -> [Float] {
        var offered: [Float]?
        let decoded = try WireCodec.decode(frames) { frame in
            offered = recent.offer(frame)
            return offered
        }
        guard case .headReply(let head) = decoded.message, let scalars = head.headParameters?.scalars else {
            throw NodeError(.refused, "not a head reply")
        }
        recent.keep(scalars, reused: offered.map { RecentTensors.sameStorage($0, scalars) } ?? false)
        return scalars
    }

    @Test func equalHeadRepliesShareOneArrayAndOthersDecodeAsBefore() throws {
        let recent = RecentTensors(capacity: 2)
        let head = (0..<RecentTensors.minimumScalars).map { Float($0 % 977) * 0.001 }
        let first = try Self.decode(Self.reply(head, device: 1), with: recent)
        let second = try Self.decode(Self.reply(head, device: 2), with: recent)
        #expect(second == head)
        #expect(RecentTensors.sameStorage(first, second))
        // A head equal in its first and last values but not in the middle is decoded on its own.
        var other = head
        other[head.count / 2] += 1
        let third = try Self.decode(Self.reply(other, device: 3), with: recent)
        #expect(third == other)
        #expect(!RecentTensors.sameStorage(first, third))
        #expect(recent.counts.reused == 1)
        #expect(recent.counts.offered == 3)
        // Small tensors are neither compared nor kept.
        let small = [Float](repeating: 1, count: 10)
        #expect(try Self.decode(Self.reply(small, device: 4), with: recent) == small)
        #expect(recent.counts.offered == 3)
        // Bounded: the oldest goes first.
        let another = head.map { $0 + 1 }
        _ = try Self.decode(Self.reply(another, device: 5), with: recent)
        #expect(recent.heldStorage.count == 2)
        let again = try Self.decode(Self.reply(head, device: 6), with: recent)
        #expect(!RecentTensors.sameStorage(first, again))
        #expect(again == head)
    }
}
