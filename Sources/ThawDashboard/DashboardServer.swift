import FlyingFox
import FlyingSocks
import Foundation
import Synchronization
import ThawNodes

/// The monitor's HTTP face (docs/MONITORING.md), on FlyingFox (pure Swift, no NIO):
///
/// - `GET /` — the live dashboard (one self-contained page: inline script and hand-made SVG charts,
///   nothing fetched from the internet);
/// - `GET /live` — a WebSocket that sends the dashboard state (JSON) every second;
/// - `GET /state.json` — the same state once (for scripts and tests);
/// - `GET /metrics` — every role's metrics in the Prometheus text format.
///
/// Slow clients cost nothing to the monitor: the server reads the board under a lock on its own tasks.
package struct DashboardServer: Sendable {
    package let holder: BoardHolder
    package let server: HTTPServer
    /// Why ``run()`` ended early (the address is taken), for ``waitForURL()`` to report.
    private let failure = FailureBox()

    final class FailureBox: Sendable {
        let error = Mutex<(any Error)?>(nil)
    }

    /// - Parameter hostPort: `HOST:PORT` (IPv4 host or `localhost`; port 0 picks a free one).
    package init(hostPort: String, holder: BoardHolder) throws {
        self.holder = holder
        let (host, port) = try Self.parse(hostPort)
        let address = try sockaddr_in.inet(ip4: host, port: port)
        server = HTTPServer(address: address, timeout: 30, logger: .disabled)
    }

    package struct BadAddress: Error, CustomStringConvertible {
        package var value: String
        package var description: String { "'\(value)' is not HOST:PORT (e.g. 127.0.0.1:5780)" }
    }

    static func parse(_ hostPort: String) throws -> (String, UInt16) {
        guard let colon = hostPort.lastIndex(of: ":"), let port = UInt16(hostPort[hostPort.index(after: colon)...]) else {
            throw BadAddress(value: hostPort)
        }
        var host = String(hostPort[..<colon])
        if host == "localhost" || host.isEmpty { host = host.isEmpty ? "0.0.0.0" : "127.0.0.1" }
        return (host, port)
    }

    /// Adds the routes and serves until the task is cancelled or ``stop()`` is called.
    package func run() async throws {
        let holder = holder
        await server.appendRoute("GET /metrics") { _ in
            HTTPResponse(
                statusCode: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: Data(holder.current.prometheus().utf8))
        }
        await server.appendRoute("GET /state.json") { _ in
            HTTPResponse(
                statusCode: .ok, headers: [.contentType: "application/json"],
                body: Data(holder.current.dashboard().json().utf8))
        }
        await server.appendRoute("GET /live", to: WebSocketHTTPHandler(handler: MessageFrameWSHandler(handler: LiveState(holder: holder))))
        await server.appendRoute("GET /") { _ in
            HTTPResponse(
                statusCode: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: Data(DashboardPage.html.utf8))
        }
        do {
            try await server.run()
        } catch {
            failure.error.withLock { $0 = error }
            throw error
        }
    }

    /// `http://HOST:PORT/` once listening (the real port when 0 was asked for).
    /// - Throws: why the server could not listen (e.g. the address is in use), or a timeout after 10 s.
    package func waitForURL() async throws -> String {
        let deadline = ContinuousClock.now + .seconds(10)
        while await !server.isListening {
            if let error = failure.error.withLock({ $0 }) { throw CannotListen(reason: "\(error)") }
            guard ContinuousClock.now < deadline else { throw CannotListen(reason: "not listening after 10 s") }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard case .ip4(let host, let port)? = await server.listeningAddress else { return "" }
        return "http://\(host == "0.0.0.0" ? "127.0.0.1" : host):\(port)/"
    }

    package struct CannotListen: Error, CustomStringConvertible {
        package var reason: String
        package var description: String { "the dashboard cannot listen: \(reason)" }
    }

    package func stop() async { await server.stop(timeout: 1) }
}

/// Sends the dashboard state every second to one WebSocket client until it goes away.
struct LiveState: WSMessageHandler {
    let holder: BoardHolder

    func makeMessages(for client: AsyncStream<WSMessage>) async throws -> AsyncStream<WSMessage> {
        let (out, continuation) = AsyncStream<WSMessage>.makeStream()
        let holder = holder
        let sender = Task {
            while !Task.isCancelled {
                continuation.yield(.text(holder.current.dashboard().json()))
                try? await Task.sleep(for: .seconds(1))
            }
        }
        Task {
            for await _ in client {}  // the page sends nothing; the stream ends when it disconnects
            sender.cancel()
            continuation.finish()
        }
        continuation.onTermination = { _ in sender.cancel() }
        return out
    }
}
