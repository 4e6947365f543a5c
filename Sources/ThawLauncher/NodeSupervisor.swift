import Foundation
import Synchronization
import ThawNodes
import ThawTopology

/// The children of one `thaw up` run, by node name: which process is current for each node, its
/// restart history, and whether the run is stopping (then nothing is started any more).
///
/// Each start of a node is a *generation*; events carry it, so the exit of a process that was already
/// replaced is never mistaken for the exit of its successor.
final class NodeSupervisor: Sendable {
    struct Slot {
        let instance: NodeInstance
        var child: ChildProcess?
        var generation = 0
        var budget: RestartBudget<ContinuousClock.Instant>
        /// Why each restart happened ("killed by signal 9"), in order.
        var restarts: [String] = []
        /// The node printed its goal line (a FedAvg server that then exits 0 has simply finished).
        var reachedGoal = false
    }

    let policy: RestartPolicy
    let events: TimedQueue<LauncherEvent>
    let collected = Collected()
    private let state = Mutex<State>(State())

    private struct State {
        var slots: [String: Slot] = [:]
        var order: [String] = []
        var stopping = false
    }

    /// What `follow` gathers from stdout besides events: the phones' final reports and FedAvg lines.
    final class Collected: Sendable {
        let phones = Mutex<[String: PhoneReport]>([:])
        let fedAvgPhones = Mutex<[String: FedAvgFleetNode.ReportLine]>([:])
        let fedAvg = Mutex<[FedAvgProgressLine]>([])
    }

    init(policy: RestartPolicy, events: TimedQueue<LauncherEvent>) {
        self.policy = policy
        self.events = events
    }

    /// Starts the next generation of `instance` unless the run is stopping (then returns nil).
    func spawn(
        _ instance: NodeInstance, make: (Int) throws -> ChildProcess
    ) throws -> (child: ChildProcess, generation: Int)? {
        try state.withLock { state -> (ChildProcess, Int)? in
            guard !state.stopping else { return nil }
            var slot = state.slots[instance.name] ?? Slot(instance: instance, budget: RestartBudget(policy: policy))
            if state.slots[instance.name] == nil { state.order.append(instance.name) }
            slot.generation += 1
            let child = try make(slot.generation)
            slot.child = child
            state.slots[instance.name] = slot
            return (child, slot.generation)
        }
    }

    /// Whether `generation` is still the current process of `name` and the run is not stopping.
    func isCurrent(_ name: String, generation: Int) -> Bool {
        state.withLock { !$0.stopping && $0.slots[name]?.generation == generation }
    }

    func slot(_ name: String) -> Slot? { state.withLock { $0.slots[name] } }

    func markGoal(_ name: String) { state.withLock { $0.slots[name]?.reachedGoal = true } }

    /// Records an unexpected exit of `name` and decides whether to restart it.
    func exited(
        _ name: String, _ termination: ChildProcess.Termination, at now: ContinuousClock.Instant
    ) -> RestartBudget<ContinuousClock.Instant>.Decision {
        state.withLock { state in
            guard var slot = state.slots[name] else { return .giveUp(failures: 0) }
            let decision = slot.budget.exited(at: now)
            if case .restart = decision { slot.restarts.append(termination.description) }
            state.slots[name] = slot
            return decision
        }
    }

    /// Marks the run as stopping and returns every current child with its node, in start order.
    func beginStopping() -> [(instance: NodeInstance, child: ChildProcess)] {
        state.withLock { state in
            state.stopping = true
            return state.order.compactMap { name in
                guard let slot = state.slots[name], let child = slot.child else { return nil }
                return (slot.instance, child)
            }
        }
    }

    /// Restarts per node (only nodes that were restarted), with the reasons.
    var restarts: [String: [String]] {
        state.withLock { $0.slots.compactMapValues { $0.restarts.isEmpty ? nil : $0.restarts } }
    }

    var exitStatuses: [String: Int32] {
        state.withLock { $0.slots.compactMapValues { $0.child.map { $0.exitStatus ?? -9 } } }
    }
}
