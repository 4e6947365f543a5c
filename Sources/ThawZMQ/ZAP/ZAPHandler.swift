import Synchronization

/// Where libzmq sends ZAP requests: every context looks for a handler bound here (RFC 27).
public let zapHandlerEndpoint = Endpoint.inproc("zeromq.zap.01")

/// Runs `body` while a ZAP handler answers the authentication requests of `context`'s server sockets.
///
/// The handler is czmq's `zauth` actor in Thaw's shape: one dedicated thread owns a REP socket bound
/// to ``zapHandlerEndpoint`` and answers each request with `authenticate`, synchronously, in arrival
/// order. Start is synchronous (the socket is bound before `body` runs, so no server socket of the
/// context can accept a client unchecked); stop is synchronous (the thread has closed its socket
/// and exited when this returns).
///
/// Pair it with server sockets configured by ``SocketOption/authenticatedCurveServer(keys:domain:)``:
/// they refuse every client once the handler is gone instead of letting everyone in.
/// - Parameters:
///   - context: the context whose sockets are checked; one handler per context.
///   - authenticate: decides one request; runs on the handler thread, so it must be quick and must
///     not block (a lookup in an allow-list).
/// - Throws: ``ZMQError`` `addressInUse` when the context already has a handler; what `body`
///   throws; or the error that stopped the handler thread early (after `body` returned).
public func withZAPHandler<Result>(
    context: ZMQContext,
    authenticate: @escaping @Sendable (ZAPRequest) -> ZAPReply,
    _ body: () async throws -> Result
) async throws -> Result {
    let wakeup = try Wakeup()
    defer { wakeup.close() }
    let shared = LoopShared(mailbox: Mailbox(capacity: 1, wakeup: wakeup), sockets: 0)
    let failure = FailureBox()
    let thread = Mutex<OwnedThread?>(nil)
    let startup: Swift.Result<Void, ZMQError> = await withCheckedContinuation { ready in
        let started = OwnedThread.start(name: "zap-handler") {
            defer { shared.markExited() }
            let socket: ZMQSocket
            do throws(ZMQError) {
                socket = try ZMQSocket(context: context, kind: .rep)
                do throws(ZMQError) {
                    try socket.bind(zapHandlerEndpoint)
                } catch {
                    socket.close()
                    throw error
                }
            } catch {
                ready.resume(returning: .failure(error))
                return
            }
            ready.resume(returning: .success(()))
            do throws(ZMQError) {
                try ZAPServer(socket: socket, wakeup: wakeup, mailbox: shared.mailbox, authenticate: authenticate).run()
            } catch {
                failure.error.withLock { $0 = error }
            }
            socket.close()
        }
        thread.withLock { $0 = started }
    }
    guard let owned = thread.withLock({ $0 }) else { preconditionFailure("ZAP thread not recorded") }

    func stopAndJoin() async {
        shared.mailbox.close()
        wakeup.signal()
        await shared.waitForExit()
        owned.join()
    }

    if case .failure(let error) = startup {
        await stopAndJoin()
        throw error
    }
    let result: Result
    do {
        result = try await body()
    } catch {
        await stopAndJoin()
        throw error
    }
    await stopAndJoin()
    if let error = failure.error.withLock({ $0 }) { throw error }
    return result
}

/// The error that ended the handler thread early, if any (a class: a `Mutex` cannot be captured).
private final class FailureBox: Sendable {
    let error = Mutex<ZMQError?>(nil)
}

/// The handler thread's loop: poll the REP socket and the wake-up fd, answer every request.
///
/// - Thread rule: created and run on the handler thread only.
private struct ZAPServer {
    let socket: ZMQSocket
    let wakeup: Wakeup
    let mailbox: Mailbox
    let authenticate: @Sendable (ZAPRequest) -> ZAPReply

    func run() throws(ZMQError) {
        let poller = Poller()
        poller.add(socket, events: .readable)
        let wakeupIndex = poller.add(fileDescriptor: wakeup.fileDescriptor, events: .readable)
        while !mailbox.isClosed {
            for (index, _) in try poller.poll(timeout: nil) {
                if index == wakeupIndex {
                    wakeup.drain()
                    continue
                }
                // REP: each receive is answered before the next one.
                while let frames = try socket.receive(.dontWait) {
                    try socket.send(answer(frames.map(\.bytes)).frames)
                }
            }
        }
    }

    private func answer(_ frames: [[UInt8]]) -> ZAPReply {
        do throws(ZAPProtocolError) {
            return authenticate(try ZAPRequest(frames: frames))
        } catch {
            return ZAPReply(requestID: error.requestID, status: .internalError, statusText: error.reason)
        }
    }
}
