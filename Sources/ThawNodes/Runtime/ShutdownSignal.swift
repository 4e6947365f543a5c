import Dispatch
import Foundation
import Synchronization

/// An awaitable "stop now" event, so a node can stop taking input, flush, close its sockets with a
/// bounded linger and exit 0 (the graceful stop the launcher and tests expect).
///
/// Roles get theirs from ``RoleService``, which fires it on the service group's graceful shutdown.
/// A launcher that is not a service (`thaw up`) passes the signals to watch: their default
/// dispositions are replaced by `SIG_IGN` and a `DispatchSourceSignal` per signal; dispatch delivers
/// the signal on its own queue, never inside a C signal handler.
public final class ShutdownSignal: Sendable {
    private let stream: AsyncStream<Int32>
    private let continuation: AsyncStream<Int32>.Continuation
    /// Dispatch sources are not Sendable; the mutex makes the class Sendable without unchecked claims.
    private let sources: Mutex<[any DispatchSourceSignal]>

    public init(signals: [Int32] = [SIGTERM, SIGINT]) {
        let (stream, continuation) = AsyncStream<Int32>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.stream = stream
        self.continuation = continuation
        var sources: [any DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { continuation.yield(number) }
            source.resume()
            sources.append(source)
        }
        self.sources = Mutex(sources)
    }

    /// Fires the event by hand (a service group's graceful shutdown, a test); `number` is what
    /// ``wait()`` returns.
    public func trigger(_ number: Int32 = SIGTERM) {
        continuation.yield(number)
    }

    /// Returns the first signal received, or `nil` if the waiting task was cancelled.
    public func wait() async -> Int32? {
        for await number in stream { return number }
        return nil
    }

    deinit {
        sources.withLock { for source in $0 { source.cancel() } }
    }
}
