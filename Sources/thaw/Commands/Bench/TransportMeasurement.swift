import Foundation
import ThawZMQ

/// One PUSH/PULL throughput measurement between two processes.
///
/// The receiver is timed like libzmq's `local_thr.c`: from the first message to the last, so
/// process start-up and connection set-up are excluded on both sides.
enum TransportMeasurement {
    /// How the Thaw receiver takes messages.
    enum ReceiveAPI: String, Codable, CaseIterable {
        /// `withNextFrame`: bytes lent from a reused `zmq_msg_t`, no allocation (like `local_thr.c`).
        case borrow
        /// `receiveFrame`: an owned `Frame` per message (copied up to 1 KiB, else the message itself).
        case frame
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Thaw receiver in this process (on a dedicated thread), Thaw sender in a child `thaw` process.
    /// - Returns: elapsed seconds from the first to the last message.
    static func thaw(
        endpoint: String, size: Int, count: Int, api: ReceiveAPI, executable: URL, senderFrame: String = "shared"
    ) async throws
        -> Double
    {
        try await onThread {
            let context = try ZMQContext()
            defer { try? context.terminateBlocking() }
            let socket = try ZMQSocket(context: context, kind: .pull)
            defer { socket.close() }
            try socket.set(.receiveTimeout(.seconds(30)))
            try socket.bind(Endpoint(endpoint))
            let resolved = try socket.lastEndpoint.rawValue
            let release = Pipe()
            let peer = try launch(
                executable,
                [
                    "bench", "transport-peer", "--endpoint", resolved, "--size", "\(size)", "--count", "\(count)",
                    "--sender-frame", senderFrame,
                ],
                stdin: release)
            defer {
                // Closing the peer's stdin tells it that every message arrived (or that we gave up).
                try? release.fileHandleForWriting.close()
                peer.waitUntilExit()
            }
            let clock = ContinuousClock()
            var start: ContinuousClock.Instant?
            for _ in 0..<count {
                let received: Int?
                switch api {
                case .borrow: received = try socket.withNextFrame(.wait) { bytes, _ in bytes.count }
                case .frame: received = try socket.receiveFrame()?.count
                }
                guard let received else { throw Failure(description: "receive timed out") }
                guard received == size else { throw Failure(description: "got \(received) bytes, not \(size)") }
                if start == nil { start = clock.now }
            }
            let elapsed = clock.now - start!
            let (seconds, attoseconds) = elapsed.components
            return Double(seconds) + Double(attoseconds) / 1e18
        }
    }

    /// Heap allocations per message of a Thaw sender and a Thaw receiver, each a child `thaw bench
    /// transport-peer` with `scripts/bench/malloc_count.c` preloaded (`library`). Whole-process counts over
    /// the send loop and over the receive loop from the first message on: libzmq's I/O thread included.
    static func allocations(
        endpoint: String, size: Int, count: Int, executable: URL, library: URL, senderFrame: String = "shared"
    ) async throws
        -> (sender: Double, receiver: Double)
    {
        try await onThread {
            var environment = ProcessInfo.processInfo.environment
            environment["LD_PRELOAD"] = library.path
            let receiverOutput = Pipe()
            let receiver = try launch(
                executable,
                ["bench", "transport-peer", "--receive", "--endpoint", endpoint, "--size", "\(size)", "--count", "\(count)"],
                stdout: receiverOutput, environment: environment)
            let receiverLines = receiverOutput.fileHandleForReading
            let firstLine = try readLine(receiverLines)
            guard let resolved = jsonObject(firstLine)["endpoint"] as? String else {
                receiver.terminate()
                receiver.waitUntilExit()
                throw Failure(description: "the receiving peer printed \(firstLine)")
            }
            let senderOutput = Pipe()
            let release = Pipe()
            let sender = try launch(
                executable,
                [
                    "bench", "transport-peer", "--endpoint", resolved, "--size", "\(size)", "--count", "\(count)",
                    "--sender-frame", senderFrame,
                ],
                stdout: senderOutput, stdin: release, environment: environment)
            let received = jsonObject(try readLine(receiverLines))
            let sent = jsonObject(try readLine(senderOutput.fileHandleForReading))
            try? release.fileHandleForWriting.close()
            receiver.waitUntilExit()
            sender.waitUntilExit()
            guard let receiverCount = received["allocations"] as? Double, let receiverMessages = received["messages"] as? Double,
                let senderCount = sent["allocations"] as? Double, let senderMessages = sent["messages"] as? Double
            else {
                throw Failure(description: "the peers printed no allocation counts (\(received), \(sent))")
            }
            return (senderCount / senderMessages, receiverCount / max(1, receiverMessages))
        }
    }

    /// libzmq's own pair: `zmq_thr local` and `zmq_thr remote`, both C processes.
    static func libzmq(endpoint: String, size: Int, count: Int, binary: URL) async throws -> Double {
        try await libzmqRun(endpoint: endpoint, size: size, count: count, binary: binary, library: nil).seconds
    }

    /// Heap allocations per message of libzmq's own sender and receiver (`zmq_thr` with `malloc_count.c`
    /// preloaded), counted as for Thaw's peers.
    static func libzmqAllocations(endpoint: String, size: Int, count: Int, binary: URL, library: URL) async throws
        -> (sender: Double, receiver: Double)
    {
        let run = try await libzmqRun(endpoint: endpoint, size: size, count: count, binary: binary, library: library)
        guard let sender = run.senderAllocations, let receiver = run.receiverAllocations else {
            throw Failure(description: "zmq_thr printed no allocation counts")
        }
        return (sender / Double(count), receiver / Double(max(1, count - 1)))
    }

    private static func libzmqRun(endpoint: String, size: Int, count: Int, binary: URL, library: URL?) async throws
        -> (seconds: Double, senderAllocations: Double?, receiverAllocations: Double?)
    {
        try await onThread {
            var environment: [String: String]?
            if let library {
                environment = ProcessInfo.processInfo.environment
                environment?["LD_PRELOAD"] = library.path
            }
            let output = Pipe()
            let local = try launch(
                binary, ["local", endpoint, "\(size)", "\(count)"], stdout: output, environment: environment)
            let reader = output.fileHandleForReading
            let firstLine = try readLine(reader)
            guard let resolved = jsonObject(firstLine)["endpoint"] as? String else {
                throw Failure(description: "zmq_thr local printed \(firstLine)")
            }
            // remote stays connected until its stdin closes, after local has every message (as Thaw's peer).
            let release = Pipe()
            let remoteOutput = Pipe()
            let remote = try launch(
                binary, ["remote", resolved, "\(size)", "\(count)"], stdout: remoteOutput, stdin: release,
                environment: environment)
            let resultLine = try readLine(reader)
            try? release.fileHandleForWriting.close()
            remote.waitUntilExit()
            local.waitUntilExit()
            let result = jsonObject(resultLine)
            guard local.terminationStatus == 0, let seconds = result["seconds"] as? Double else {
                throw Failure(description: "zmq_thr local failed: \(resultLine)")
            }
            let sent = library == nil ? [:] : jsonObject(try readLine(remoteOutput.fileHandleForReading))
            return (seconds, sent["allocations"] as? Double, result["allocations"] as? Double)
        }
    }

    private static func launch(
        _ executable: URL,
        _ arguments: [String],
        stdout: Pipe? = nil,
        stdin: Pipe? = nil,
        environment: [String: String]? = nil
    ) throws -> Process {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let stdout { process.standardOutput = stdout }
        if let stdin { process.standardInput = stdin }
        try process.run()
        return process
    }

    private static func readLine(_ handle: FileHandle) throws -> String {
        var bytes: [UInt8] = []
        while true {
            guard let chunk = try handle.read(upToCount: 1), let byte = chunk.first else { break }
            if byte == UInt8(ascii: "\n") { break }
            bytes.append(byte)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func jsonObject(_ line: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] ?? [:]
    }

    /// Runs blocking work on a dedicated thread so the cooperative pool never blocks.
    private static func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try work() })
            }
            thread.start()
        }
    }
}
