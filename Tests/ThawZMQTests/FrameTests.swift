import Testing
import ThawTestKit
import ThawZMQ

@Suite struct FrameTests {
    @Test func multipartMessageRoundTripsWithEmptyAndBinaryParts() async throws {
        try await withTestContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try Transport.ipc.bind(pull, in: context)
            let push = try context.socket(.push)
            try push.connect(endpoint)
            let message = [Frame("topic"), Frame.empty, Frame([0, 255, 1, 254]), Frame("tail")]
            try push.send(message)
            let received = try context.receive(pull)
            #expect(received == message)
            #expect(received[2].bytes == [0, 255, 1, 254])
            #expect(!pull.hasMoreFrames)
            push.close()
            pull.close()
        }
    }

    @Test(arguments: Transport.allCases)
    func eightMebibyteFrameArrivesIntactAndUntruncated(transport: Transport) async throws {
        try await withTestContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try transport.bind(pull, in: context)
            let push = try context.socket(.push)
            try push.connect(endpoint)
            let count = 8 * 1024 * 1024
            let payload = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 13) }
            // Sent without a copy (zmq_msg_init_data over the array), and once more from a raw buffer.
            try push.send(Frame(payload))
            try payload.withUnsafeBytes { buffer in _ = try push.send(bytes: buffer) }
            for _ in 0..<2 {
                let received = try context.receive(pull, timeout: .seconds(20))
                #expect(received.count == 1)
                #expect(received[0].count == count)
                #expect(received[0] == Frame(payload))
            }
            push.close()
            pull.close()
        }
    }

    @Test func receivedLargeFrameCanBeForwarded() async throws {
        try await withTestContext { context in
            let first = try context.socket(.pair)
            let second = try context.socket(.pair)
            let endpoint = Endpoint.inproc("forward")
            try first.bind(endpoint)
            try second.connect(endpoint)
            let payload = [UInt8](repeating: 7, count: 100_000)
            try first.send(Frame(payload))
            let received = try context.receive(second)
            try second.send(received)
            #expect(try context.receive(first) == [Frame(payload)])
            first.close()
            second.close()
        }
    }

    @Test func withNextFrameLendsBytesWithoutAllocating() async throws {
        try await withTestContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try Transport.ipc.bind(pull, in: context)
            let push = try context.socket(.push)
            try push.connect(endpoint)
            try push.send(frames("a", "bc"))
            try pull.set(.receiveTimeout(.seconds(5)))
            var sizes: [Int] = []
            var flags: [Bool] = []
            while let more = try pull.withNextFrame(.wait, { (bytes, more) -> Bool in
                sizes.append(bytes.count)
                return more
            }) {
                flags.append(more)
                if !more { break }
            }
            #expect(sizes == [1, 2])
            #expect(flags == [true, false])
            push.close()
            pull.close()
        }
    }

    /// A shared frame goes out many times, from several sockets, small (copied inline by libzmq) and
    /// large (shared by reference count), and every copy arrives intact.
    @Test(arguments: [5, 64, 100_000])
    func sharedFrameIsSentManyTimesIntact(size: Int) async throws {
        try await withTestContext { context in
            let pull = try context.socket(.pull)
            let endpoint = try Transport.ipc.bind(pull, in: context)
            try pull.set(.receiveTimeout(.seconds(5)))
            let pushes = try (0..<2).map { _ in try context.socket(.push) }
            for push in pushes { try push.connect(endpoint) }
            let payload = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            let shared = Frame.sharing(payload)
            #expect(shared == Frame(payload))
            for _ in 0..<50 {
                for push in pushes { try push.send(shared) }
            }
            for _ in 0..<100 {
                let same = try pull.withNextFrame(.wait) { bytes, _ in bytes.elementsEqual(payload) }
                #expect(same == true)
            }
            #expect(shared.bytes == payload)
            for push in pushes { push.close() }
            pull.close()
        }
    }

    @Test func frameEqualityAndDescriptionUseContent() {
        #expect(Frame("abc") == Frame([97, 98, 99]))
        #expect(Frame("abc").string == "abc")
        #expect(Frame([0xff]).string == nil)
        #expect("\(Frame("hi"))" == "Frame(\"hi\")")
    }
}
