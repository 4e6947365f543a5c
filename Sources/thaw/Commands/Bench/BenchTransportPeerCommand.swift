import ArgumentParser
import Foundation
import ThawZMQ

/// The sending side of `thaw bench transport`, run as a separate process (hidden); with `--receive`, the
/// receiving side, for the allocation count (the throughput receiver runs inside the command itself).
///
/// Started with `scripts/bench/malloc_count.c` preloaded, either side prints how many heap allocations
/// the whole process (its libzmq I/O thread included) made during its loop, as one JSON line.
struct BenchTransportPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport-peer",
        abstract: "Send benchmark messages on a PUSH socket (started by `thaw bench transport`).",
        shouldDisplay: false
    )

    @Option(help: "Endpoint to connect to (to bind, with --receive).")
    var endpoint: String

    @Option(help: "Message size in bytes.")
    var size: Int

    @Option(help: "Number of messages.")
    var count: Int

    @Flag(help: "Bind a PULL socket, print its endpoint, receive `count` messages and print the allocations.")
    var receive = false

    @Option(help: "The sender's frame: shared (Frame.sharing, no allocation per send) or copy (Frame([UInt8]), zmq_send).")
    var senderFrame: String = "shared"

    mutating func run() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, kind: receive ? .pull : .push)
        do {
            if receive {
                try receiveAll(on: socket)
            } else {
                try sendAll(on: socket)
            }
        } catch {
            socket.close()
            try context.terminateBlocking()
            throw error
        }
        socket.close()
        try context.terminateBlocking()
    }

    private func sendAll(on socket: ZMQSocket) throws {
        // A bounded linger so close flushes every message before the process exits.
        try socket.set(.linger(.seconds(30)))
        try socket.connect(Endpoint(endpoint))
        // One message-backed frame reused: every send shares it by reference count (no allocation or
        // copy per message on our side), where remote_thr.c allocates a fresh message each time.
        let bytes = [UInt8](repeating: 0xAB, count: size)
        let frame = senderFrame == "copy" ? Frame(bytes) : Frame.sharing(bytes)
        let counter = AllocationCounter.current
        let before = counter?()
        for _ in 0..<count {
            try socket.send(frame)
        }
        if let counter, let before { printLine(["allocations": counter() - before, "messages": count]) }
        // Keep the connection open until the receiver has everything (it closes our stdin then):
        // over ipc, a PULL that is still behind can lose what it has not read when the PUSH
        // peer disconnects, which stalled the receiver in early runs.
        while readLine() != nil {}
    }

    private func receiveAll(on socket: ZMQSocket) throws {
        try socket.set(.receiveTimeout(.seconds(30)))
        try socket.bind(Endpoint(endpoint))
        printLine(["endpoint": try socket.lastEndpoint.rawValue])
        let counter = AllocationCounter.current
        var before: UInt64?
        for index in 0..<count {
            guard let received = try socket.withNextFrame(.wait, { bytes, _ in bytes.count }) else {
                throw ValidationError("receive timed out after \(index) messages")
            }
            guard received == size else { throw ValidationError("got \(received) bytes, not \(size)") }
            // Counted from the first message on, as the throughput is timed.
            if index == 0 { before = counter?() }
        }
        if let counter, let before { printLine(["allocations": counter() - before, "messages": count - 1]) }
    }

    private func printLine(_ object: [String: Any]) {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }
}
