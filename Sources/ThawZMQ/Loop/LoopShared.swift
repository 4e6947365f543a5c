import Synchronization

/// The state a ``SocketLoop`` handle and its thread share: the mailbox, counters and the exit signal.
///
/// Sendable without `@unchecked`: every mutable part is a `Mutex` or an `Atomic`.
final class LoopShared: Sendable {
    let mailbox: Mailbox
    /// Messages dropped because their peer was unknown (ROUTER with `routerMandatory`).
    let dropped = Atomic<Int>(0)
    /// Deliveries handed out and not yet released, per socket (only sockets with an inbound limit count).
    let outstanding: Mutex<[Int]>

    private enum ExitState {
        case running
        case waiting(CheckedContinuation<Void, Never>)
        case exited
    }

    private let exit = Mutex(ExitState.running)

    init(mailbox: Mailbox, sockets: Int) {
        self.mailbox = mailbox
        self.outstanding = Mutex(Array(repeating: 0, count: sockets))
    }

    /// Loop thread, as its last action: lets ``waitForExit()`` return.
    func markExited() {
        let waiter = exit.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state = .exited }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        waiter?.resume()
    }

    /// Suspends (never blocks) until the loop thread has called ``markExited()``.
    func waitForExit() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let exited = exit.withLock { state -> Bool in
                if case .exited = state { return true }
                state = .waiting(continuation)
                return false
            }
            if exited { continuation.resume() }
        }
    }
}
