import Synchronization
import ThawWire

/// What reaches a device process's fleet from outside, in arrival order.
enum FleetEvent: Sendable {
    /// A coordinator broadcast (deployment state, invalidation, heartbeat), and when the reader got it
    /// (wall clock, for the transport share of the applied latency; monotonic, for the inbox share).
    case broadcast(DecodedMessage, receivedAtMs: UInt64 = 0, arrived: ContinuousClock.Instant = .now)
    /// A reply from the registry to one of the fleet's in-flight requests, and its size on the wire
    /// (all frames, counted by the reader: the fleet never re-encodes a reply to learn it).
    case reply(DecodedMessage, bytes: Int)
    /// A group commit of phones' snapshots finished (`error` nil: durable).
    case committed(error: String?)
    /// A batched backbone pass finished on its compute task.
    case backboneDone(BackboneResult)
    /// A held-out evaluation finished on the compute queue.
    case evaluated(EvaluationResult)
    /// A phone's rebuild after a freeze move finished on the compute queue.
    case rebuilt(RebuildResult)
    /// A pulled head's checks and gate evidence finished on the compute queue.
    case headChecked(HeadCheckResult)
    /// A phone's batch was encoded and handed to the socket loop on the send queue (its size on the wire).
    case sent(phone: Int, bytes: Int)
    /// SIGTERM/SIGINT (through `RoleService`).
    case shutdown
    /// The socket loop ended.
    case closed

    /// The event's name in logs.
    var kind: String {
        switch self {
        case .broadcast: "broadcast"
        case .reply: "reply"
        case .committed: "committed"
        case .backboneDone: "backbone"
        case .evaluated: "evaluated"
        case .rebuilt: "rebuilt"
        case .headChecked: "head-checked"
        case .sent: "sent"
        case .shutdown: "shutdown"
        case .closed: "closed"
        }
    }

    /// Control comes before work: broadcasts, shutdown and the end of the socket loop are handled
    /// ahead of every other event that arrived, and end a slice of phone work early.
    var isControl: Bool {
        switch self {
        case .broadcast, .shutdown, .closed: true
        default: false
        }
    }
}

/// The fleet's mailbox: the socket reader and the shutdown watcher put events in; the fleet's single
/// task takes them between work slices, without waiting (``drain()``), or waits for the next one with a
/// deadline when no phone is due (``wait(until:)``).
///
/// Control before work: every event that arrived is handled before the next slice of phone work, and
/// a slice is a few milliseconds, so a broadcast never waits for a walk over the fleet.
final class FleetInbox: Sendable {
    private struct State {
        var events: [FleetEvent] = []
        var waiter: CheckedContinuation<Void, Never>?
        var generation = 0
        /// Control events among `events`.
        var control = 0
    }

    private let state = Mutex(State())

    init() {}

    func put(_ event: FleetEvent) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.events.append(event)
            if event.isControl { state.control += 1 }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Every event that arrived so far: control events first, then the others, each in arrival order.
    ///
    /// The reordering is safe: a broadcast (SUB) and a registry reply or compute result never had an
    /// order between them (other sockets, other threads); every result carries the stamps it was made
    /// under, and a phone's machine drops one that is no longer current.
    func drain() -> [FleetEvent] {
        state.withLock { state in
            defer {
                state.events.removeAll(keepingCapacity: true)
                state.control = 0
            }
            guard state.control > 0, state.control < state.events.count else { return state.events }
            return state.events.filter(\.isControl) + state.events.filter { !$0.isControl }
        }
    }

    /// The control events that arrived so far, oldest first; the other events stay, in their order.
    /// The fleet takes them between two other events, so a broadcast waits for at most one event.
    func takeControl() -> [FleetEvent] {
        state.withLock { state in
            guard state.control > 0 else { return [] }
            let control = state.events.filter(\.isControl)
            state.events.removeAll(where: \.isControl)
            state.control = 0
            return control
        }
    }

    /// Whether a control event is waiting: a slice of phone work stops at the next phone.
    var controlPending: Bool { state.withLock { $0.control > 0 } }

    /// Returns once an event is waiting or `deadline` passed (whichever comes first).
    func wait(until deadline: ContinuousClock.Instant) async {
        if state.withLock({ !$0.events.isEmpty }) { return }
        let generation = state.withLock { state -> Int in
            state.generation += 1
            return state.generation
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if !state.events.isEmpty || state.generation != generation { return true }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            await group.next()
            // Whichever finished first: release the other (a sleeping timer is cancelled; a parked waiter
            // is resumed here, once, by whoever takes it out of the state).
            group.cancelAll()
            let parked = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                // A waiter that registers late sees the new generation and returns at once.
                state.generation += 1
                defer { state.waiter = nil }
                return state.waiter
            }
            parked?.resume()
        }
    }
}
