import Synchronization

/// The bounded outbound queue between async senders and the loop thread.
///
/// - Thread rule: any thread may ``enqueue(_:on:)``; only the loop thread pops. State is guarded by
///   a `Mutex`, and the loop thread is woken through ``Wakeup`` only when the queue goes from empty
///   to non-empty (the thread drains it completely, or keeps it non-empty while a socket is stalled).
/// - Back-pressure: at ``capacity`` messages, ``enqueue(_:on:)`` suspends the sender until the thread
///   has taken a message (FIFO); ``tryEnqueue(_:on:)`` returns `false` instead.
final class Mailbox: Sendable {
    struct Item: Sendable {
        var socket: SocketID
        var frames: [Frame]
    }

    private struct Waiter {
        var id: UInt64
        var item: Item
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var queue: [Item] = []
        var head = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var isClosed = false

        var count: Int { queue.count - head }
    }

    let capacity: Int
    let wakeup: Wakeup
    private let state = Mutex(State())

    init(capacity: Int, wakeup: Wakeup) {
        precondition(capacity > 0, "a mailbox needs room for at least one message")
        self.capacity = capacity
        self.wakeup = wakeup
    }

    /// Appends without waiting. - Returns: `false` when full. - Throws: `loopStopped` once closed.
    func tryEnqueue(_ frames: [Frame], on socket: SocketID) throws(ZMQError) -> Bool {
        let (accepted, wake) = try state.withLock { (state) throws(ZMQError) -> (Bool, Bool) in
            guard !state.isClosed else { throw Self.stopped }
            guard state.count < capacity, state.waiters.isEmpty else { return (false, false) }
            state.queue.append(Item(socket: socket, frames: frames))
            return (true, state.count == 1)
        }
        if wake { wakeup.signal() }
        return accepted
    }

    /// Appends, suspending while the queue is full.
    /// - Throws: ``ZMQError/Code/loopStopped`` once closed; `CancellationError` if cancelled while waiting.
    func enqueue(_ frames: [Frame], on socket: SocketID) async throws {
        if try tryEnqueue(frames, on: socket) { return }
        let id = state.withLock { state in
            state.nextWaiterID += 1
            return state.nextWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Admission { case appended(wake: Bool), waiting, failed(any Error) }
                let admission: Admission = state.withLock { state in
                    if state.isClosed { return .failed(Self.stopped) }
                    if Task.isCancelled { return .failed(CancellationError()) }
                    let item = Item(socket: socket, frames: frames)
                    if state.count < capacity && state.waiters.isEmpty {
                        state.queue.append(item)
                        return .appended(wake: state.count == 1)
                    }
                    state.waiters.append(Waiter(id: id, item: item, continuation: continuation))
                    return .waiting
                }
                switch admission {
                case .failed(let error): continuation.resume(throwing: error)
                case .appended(let wake):
                    if wake { wakeup.signal() }
                    continuation.resume()
                case .waiting: break  // pop() or close() or the cancel handler resumes it
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            cancelled?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Loop thread: takes the oldest message and admits one waiting sender, if any.
    func pop() -> Item? {
        let (item, admitted) = state.withLock { state -> (Item?, Waiter?) in
            guard state.count > 0 else { return (nil, nil) }
            let item = state.queue[state.head]
            state.head += 1
            if state.head > 64 && state.head * 2 > state.queue.count {
                state.queue.removeFirst(state.head)
                state.head = 0
            }
            var admitted: Waiter?
            if !state.waiters.isEmpty {
                let waiter = state.waiters.removeFirst()
                state.queue.append(waiter.item)
                admitted = waiter
            }
            return (item, admitted)
        }
        admitted?.continuation.resume()
        return item
    }

    /// Refuses further messages and fails waiting senders; returns how many queued messages were dropped.
    @discardableResult
    func close() -> Int {
        let (waiters, dropped) = state.withLock { state -> ([Waiter], Int) in
            state.isClosed = true
            let waiters = state.waiters
            let dropped = state.count + waiters.count
            state.waiters = []
            state.queue = []
            state.head = 0
            return (waiters, dropped)
        }
        for waiter in waiters { waiter.continuation.resume(throwing: Self.stopped) }
        return dropped
    }

    var isClosed: Bool { state.withLock { $0.isClosed } }

    private static var stopped: ZMQError {
        ZMQError(code: .loopStopped, errno: 0, operation: "SocketLoop.send")
    }
}
