import ThawNodes

/// Runs one ``TrainerWorkerStateMachine`` against a real registry, one action at a time, so a test can
/// interleave two workers step by step.
///
/// Training is a deterministic stand-in: the new head is `[parent[0] + 1, number of features]`, so a
/// head whose first parameter equals its version was built on its parent's parameters (no lost
/// update).
struct TrainerWorkerHarness {
    var machine: TrainerWorkerStateMachine
    let registry: ModelRegistryStateMachine
    var queue: [TrainerWorkerAction] = []
    /// Every action the machine returned, in order, for assertions.
    var log: [TrainerWorkerAction] = []

    init(store: RegistryStore, configuration: TrainerWorkerConfiguration = TrainerWorkerConfiguration()) {
        machine = TrainerWorkerStateMachine(configuration: configuration)
        registry = ModelRegistryStateMachine(store: store)
    }

    var isIdle: Bool { queue.isEmpty }

    mutating func send(_ event: TrainerWorkerEvent) {
        let actions = machine.handle(event)
        log += actions
        queue += actions
    }

    /// Performs the oldest queued action and feeds its outcome back.
    mutating func step() throws {
        guard !queue.isEmpty else { return }
        let action = queue.removeFirst()
        if let request = action.registryRequest {
            let reply = try registry.handle(request)
            if let event = TrainerWorkerEvent(reply: reply, to: action) { send(event) }
        } else if case .train(let job) = action {
            let base = job.initialParameters?.first ?? 0
            send(
                .trained(
                    user: job.user, parameters: [base + 1, Float(job.features.count)],
                    hash: "fake-\(base + 1)-\(job.features.count)", loss: 1 / Float(job.features.count)))
        }
    }

    mutating func drain() throws {
        while !queue.isEmpty { try step() }
    }
}

/// A small deterministic generator (RaceInterleavingGenerator) for interleavings; tests never use the system RNG.
struct RaceInterleavingGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
