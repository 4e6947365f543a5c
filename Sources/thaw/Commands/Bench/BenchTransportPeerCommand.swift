import ArgumentParser
import ThawZMQ

/// The sending side of `thaw bench transport`, run as a separate process (hidden).
struct BenchTransportPeerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport-peer",
        abstract: "Send benchmark messages on a PUSH socket (started by `thaw bench transport`).",
        shouldDisplay: false
    )

    @Option(help: "Endpoint to connect to.")
    var endpoint: String

    @Option(help: "Message size in bytes.")
    var size: Int

    @Option(help: "Number of messages.")
    var count: Int

    mutating func run() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context: context, kind: .push)
        do {
            // A bounded linger so close flushes every message before the process exits.
            try socket.set(.linger(.seconds(30)))
            try socket.connect(Endpoint(endpoint))
            // One frame reused: below 32 KiB zmq_send copies it, above it is handed over without a copy.
            let frame = Frame([UInt8](repeating: 0xAB, count: size))
            for _ in 0..<count {
                try socket.send(frame)
            }
            // Keep the connection open until the receiver has everything (it closes our stdin then):
            // over ipc, a PULL that is still behind can lose what it has not read when the PUSH
            // peer disconnects, which stalled the receiver in early runs.
            while readLine() != nil {}
        } catch {
            socket.close()
            try context.terminateBlocking()
            throw error
        }
        socket.close()
        try context.terminateBlocking()
    }
}
