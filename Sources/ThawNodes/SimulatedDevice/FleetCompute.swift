import Dispatch
import Foundation
import Synchronization
import ThawData
import ThawLearning
import ThawNN
import ThawWire

/// Where a device process's long units of work run: one serial dispatch queue, so jobs run one at a
/// time, in the order they were submitted, on a thread of their own.
///
/// Not the Swift concurrency pool: it has as many threads as cores (2 here), and a backbone pass or
/// an fsync parked on one of them delays the fleet's own task, so a broadcast would wait for the unit
/// in progress (docs/RELIABILITY.md, "Device process at scale"). A job hands its result back by putting
/// an event in the fleet's inbox; nothing it touches is shared with the fleet's task but what it was
/// given (values) and the objects confined to this queue (the model copy, ``EvaluationInputs``).
///
/// Its jobs run at a lower priority (``backgroundNiceness``) than the fleet's task and the socket
/// loop: on a machine whose cores are all busy, a broadcast's reader and the fleet's task are then
/// scheduled ahead of the passes, commits, sends and decodes instead of waiting for their time slices
/// (docs/RELIABILITY.md, "Fourth pass"). Linux keeps a nice value per thread, and raising one's own
/// needs no privilege; a queue's threads (libdispatch's overcommit pool) run only queue jobs, never
/// the Swift concurrency pool's tasks, which have threads of their own.
final class FleetCompute: Sendable {
    private let queue: DispatchQueue
    private let queued = Mutex(0)
    private let label: String
    /// Where each job's CPU time is booked (by kind), if anywhere.
    private let cpu: FleetCPU?

    /// The nice value the queue's jobs run at (nil: the process's own).
    private let niceness: Int32?

    /// How much lower than the fleet's task the queues run: nice 5 gets about a third of the CPU of a
    /// nice-0 thread competing for the same core, so the queues still progress under load.
    static let backgroundNiceness: Int32 = 5

    init(label: String, cpu: FleetCPU? = nil, niceness: Int32? = FleetCompute.backgroundNiceness) {
        queue = DispatchQueue(label: "thaw.fleet.\(label)")
        self.label = label
        self.cpu = cpu
        self.niceness = niceness
    }

    /// Jobs submitted and not finished yet (the fleet bounds what it submits by kind; this is the total).
    var pending: Int { queued.withLock { $0 } }

    /// Runs `job` after every job submitted before it; its CPU time is booked under `kind` (default:
    /// the queue's label).
    func submit(kind: String? = nil, _ job: @escaping @Sendable () -> Void) {
        queued.withLock { $0 += 1 }
        let (cpu, kind, niceness) = (self.cpu, kind ?? label, self.niceness)
        queue.async {
            // Per thread on Linux (`who` 0 is the calling thread); one cheap system call per job, since
            // a serial queue's jobs may run on any of the dispatch pool's threads.
            if let niceness { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness) }
            let started = FleetCPU.threadSeconds()
            job()
            cpu?.book(kind, seconds: FleetCPU.threadSeconds() - started)
            self.queued.withLock { $0 -= 1 }
        }
    }

    /// Runs `job` on the queue and returns once it finished, suspending (not blocking) the caller.
    func run(_ job: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            submit {
                job()
                continuation.resume()
            }
        }
    }
}

/// Held-out backbone outputs (the input of the head) for at most ``capacity`` users, each under the
/// stamp it was computed for. Used only on the fleet's compute queue.
final class EvaluationInputs: @unchecked Sendable {
    // @unchecked: only ever touched by jobs on one serial `FleetCompute` queue.
    let capacity: Int
    private var entries: [UserID: (stamp: ActivationStamp, inputs: Tensor, labels: [Int])] = [:]
    /// Bytes of the kept outputs, readable from any thread (memory accounting).
    let heldBytes = Mutex(0)

    init(capacity: Int) {
        self.capacity = capacity
    }

    var count: Int { entries.count }

    /// The user's evaluation inputs under `stamp`, computed with `model` when missing or stale; the
    /// oldest-inserted other user is dropped when full (recomputed from the raw images if needed again).
    func inputs(
        user: UserID, stamp: ActivationStamp, samples: [Int], dataset: HandwritingDataset, model: Model
    ) -> (inputs: Tensor, labels: [Int]) {
        if let cached = entries[user], cached.stamp == stamp { return (cached.inputs, cached.labels) }
        if entries[user] == nil, entries.count >= capacity, let any = entries.keys.first {
            entries.removeValue(forKey: any)
        }
        let raw = Tensor(
            shape: [samples.count, 1, dataset.test.rows, dataset.test.columns],
            scalars: dataset.test.floatPixels(samples))
        let inputs = model.forward(raw, layers: 0..<stamp.freezePoint.index, training: false)
        let labels = dataset.test.intLabels(samples)
        entries[user] = (stamp, inputs, labels)
        let held = entries.values.reduce(0) { $0 + $1.inputs.scalars.count * MemoryLayout<Float>.size }
        heldBytes.withLock { $0 = held }
        return (inputs, labels)
    }
}

/// A held-out evaluation the fleet asked its compute queue for: the accuracy of one head (nil: the base
/// model's own) on one user's evaluation set under one stamp.
struct EvaluationJob: Sendable {
    var key: EvaluationKey
    var samples: [Int]
    var head: [Float]?
    /// Where the head's parameters are when they are not in `head` (``HeadStore``).
    var headFile: String? = nil
}

/// What identifies an accuracy: the user, the head (its hash, "base", or a per-phone tag for a head
/// without a hash, which is never shared) and the deployment's stamp.
struct EvaluationKey: Hashable, Sendable {
    var user: UserID
    var head: String
    var stamp: ActivationStamp
    /// Whether phones of the same user with this head share the result.
    var shared: Bool { !head.hasPrefix("held-") }
}

/// The outcome of an ``EvaluationJob``, fed back to the fleet as an event.
struct EvaluationResult: Sendable {
    var key: EvaluationKey
    var accuracy: Double
}

/// One phone's rebuild after a freeze move, computed on the compute queue.
struct RebuildResult: Sendable {
    var phone: Int
    var plan: RebuildPlan
    var outputs: [Activation]
    /// Each step's own FLOPs, charged to the phone.
    var flops: [FLOPCount]
}

extension EvaluationJob {
    /// The job's accuracy with `model`, the base head restored afterwards.
    func run(on backbone: BackboneModel, inputs cache: EvaluationInputs, dataset: HandwritingDataset)
        -> EvaluationResult
    {
        let model = backbone.model
        let freezePoint = key.stamp.freezePoint
        backbone.baseBelow(freezePoint)
        let (inputs, labels) = cache.inputs(
            user: key.user, stamp: key.stamp, samples: samples, dataset: dataset, model: model)
        let head = self.head ?? headFile.flatMap(HeadStore.read)
        backbone.load(head: head, key: head == nil ? "base" : "\(key.user.rawValue)|\(key.head)", freezePoint: freezePoint)
        let accuracy = model.evaluate(inputs, labels: labels, from: freezePoint).accuracy
        return EvaluationResult(key: key, accuracy: accuracy)
    }
}

extension RebuildPlan {
    /// Every step advanced to the plan's target with `model`, one step at a time (each step's FLOPs are
    /// its phone's), from its stored activation or the raw image.
    func run(
        phone: Int, on backbone: BackboneModel, dataset: HandwritingDataset, interner: ActivationInterner? = nil
    ) -> RebuildResult {
        backbone.baseBelow(target)
        let model = backbone.model
        var outputs: [Activation] = []
        var flops: [FLOPCount] = []
        outputs.reserveCapacity(steps.count)
        let samples = dataset.test
        for step in steps {
            if let held = interner?.lookup(modelVersion: modelVersion, layer: target.index, sampleId: step.sampleId) {
                // Another phone of the same writer already has this sample at the target: its bit-identical
                // output, and this phone is charged the step's FLOPs as if it had run it.
                outputs.append(held)
                flops.append(
                    FLOPCount(
                        forward: model.architecture.forwardFLOPs(layers: step.startLayer..<target.index, samples: 1),
                        backward: 0, optimizer: 0))
                continue
            }
            let start: Tensor
            switch step.source {
            case .rawInput:
                start = Tensor(
                    shape: [1, 1, samples.rows, samples.columns], scalars: samples.floatPixels([Int(step.sampleId)]))
            case .activation(_, let activation):
                start = Tensor(shape: [1] + activation.shape, scalars: activation.scalars)
            }
            let before = model.executedFLOPs
            let output = model.advance(checkpoint: start, from: step.startLayer, to: target.index)
            flops.append(model.executedFLOPs - before)
            let activation = Activation(shape: output.sampleShape, scalars: output.scalars)
            outputs.append(
                interner?.intern(activation, modelVersion: modelVersion, layer: target.index, sampleId: step.sampleId)
                    ?? activation)
        }
        return RebuildResult(phone: phone, plan: self, outputs: outputs, flops: flops)
    }
}

/// A pulled head's checks and the head-swap gate's evidence, computed on the compute queue.
struct HeadCheckJob: Sendable {
    struct Gate: Sendable {
        /// The phone's validation entries (backbone outputs under the current stamps) and their labels.
        var inputs: [Activation]
        var labels: [Int]
        /// The head the phone runs now (nil, and no file: the base model's), and its key for the
        /// loaded-head slot.
        var current: [Float]?
        /// Where the current head's parameters are when they are not in `current` (``HeadStore``).
        var currentFile: String? = nil
        var currentKey: String
    }

    var phone: Int
    var reply: HeadReply
    var info: HeadInfo
    var what: String
    var freezePoint: FreezePoint
    /// Set when the head is for the current model and freeze point: its size and hash are checked.
    var contract: ModelContract?
    /// Set when the reply is a HEAD_DELTA: the parameters of the head in use and the `head_delta` frame.
    struct Delta: Sendable {
        /// The base head's parameters, or (nil) the ``HeadStore`` file they were written to.
        var base: [Float]?
        var baseFile: String?
        var bytes: [UInt8]
    }

    /// Set when the phone has a ``HeadSwapGate``.
    var gate: Gate?
    var delta: Delta?

    func run(on backbone: BackboneModel?, verifications: HeadVerifications?) -> HeadCheckResult {
        var result = HeadCheckResult(phone: phone, reply: reply, info: info)
        if let delta {
            // The delta first: the result replaces the reply's parameters only if it then passes the same
            // size and SHA-256 checks as a full head (below); any failure sends the phone to the full head.
            result.fromDelta = true
            do {
                guard let base = delta.base ?? delta.baseFile.flatMap(HeadStore.read) else {
                    result.refusal = InputViolation(.badHeadDelta, "\(what): the base head's file is unreadable")
                    return result
                }
                let parameters = try HeadDelta.apply(delta.bytes, to: base)
                result.reply.status = .head
                result.reply.headDelta = nil
                result.reply.headParameters = WireTensor(flat: parameters)
            } catch {
                result.refusal = InputViolation(.badHeadDelta, "\(what): \(error)")
                return result
            }
        }
        let candidate = result.reply.headParameters?.scalars ?? []
        if let contract {
            do {
                if let verifications, verifications.verified(candidate, hash: reply.headHash) {
                    try contract.checkHead(count: candidate.count, freezePoint: reply.freezePoint, what: what)
                } else {
                    try contract.checkHead(
                        parameters: candidate, claimedHash: reply.headHash, freezePoint: reply.freezePoint, what: what)
                    verifications?.record(candidate, hash: reply.headHash)
                }
            } catch {
                result.refusal = error
                return result
            }
        }
        guard let gate, let backbone else { return result }
        let model = backbone.model
        // As before: no validation entries, or a candidate that does not fit the split, is no evidence.
        guard let shape = gate.inputs.first?.shape,
            candidate.count == model.parameterRange(layers: freezePoint.index..<model.layerCount).count
        else {
            result.evidence = HeadSwapGate.Evidence(samples: 0, wins: 0, losses: 0)
            return result
        }
        var stacked: [Float] = []
        stacked.reserveCapacity(gate.inputs.reduce(0) { $0 + $1.count })
        for input in gate.inputs { input.append(to: &stacked) }
        let inputs = Tensor(shape: [gate.inputs.count] + shape, scalars: stacked)
        // Class probabilities, not only predicted classes: the gate's likelihood tie-break needs them.
        let layers = freezePoint.index..<model.layerCount
        backbone.load(
            head: gate.current ?? gate.currentFile.flatMap(HeadStore.read), key: gate.currentKey, freezePoint: freezePoint)
        let current = Softmax.probabilities(model.forward(inputs, layers: layers, training: false))
        backbone.load(head: candidate, key: reply.headHash, freezePoint: freezePoint)
        let proposed = Softmax.probabilities(model.forward(inputs, layers: layers, training: false))
        result.evidence = HeadSwapGate.Evidence(
            labels: gate.labels, currentProbabilities: current, candidateProbabilities: proposed)
        return result
    }
}

/// What a ``HeadCheckJob`` found, fed back to the fleet as an event.
struct HeadCheckResult: Sendable {
    var phone: Int
    var reply: HeadReply
    var info: HeadInfo
    /// Why the head is refused (size or hash), if it is.
    var refusal: (any Error)?
    /// The head came as a delta (applied here); a refusal then sends the phone to the full head.
    var fromDelta = false
    /// The gate's evidence (nil: the phone has no gate).
    var evidence: HeadSwapGate.Evidence?
}

/// Heads whose parameters were checked against their SHA-256 hash on the compute queue, so that the
/// other phones' copies of the same bytes (usually the very same array) are not hashed again.
/// Used only on the fleet's compute queue.
final class HeadVerifications: @unchecked Sendable {
    // @unchecked: only ever touched by jobs on one serial `FleetCompute` queue.
    private var byHash: [String: [Float]] = [:]
    /// The hashes in `byHash`, oldest first.
    private var order: [String] = []
    let capacity: Int
    /// The kept copies: how many, and the addresses of their storage (memory accounting, any thread).
    let held = Mutex<[UInt: Int]>([:])

    /// At most `capacity` heads: the phones of a user pull its newest head within seconds of each other,
    /// and each copy kept is 6.4 MB at freeze point 7 that nothing else may hold any more.
    init(capacity: Int = 64) {
        self.capacity = capacity
    }

    /// Whether `parameters` are bytes already verified under `hash`.
    func verified(_ parameters: [Float], hash: String) -> Bool {
        guard let known = byHash[hash] else { return false }
        return DeviceFleet.sameScalars(known, parameters)
    }

    func record(_ parameters: [Float], hash: String) {
        if byHash[hash] == nil {
            order.append(hash)
            if order.count > capacity { byHash.removeValue(forKey: order.removeFirst()) }
        }
        byHash[hash] = parameters
        var addresses: [UInt: Int] = [:]
        for copy in byHash.values {
            copy.withUnsafeBytes { if let base = $0.baseAddress { addresses[UInt(bitPattern: base)] = $0.count } }
        }
        held.withLock { $0 = addresses }
    }
}

/// CPU seconds a device process spent, by kind of work (the compute queue's jobs, the send, commit and
/// decode queues, the fleet task's events and slices), from each thread's own CPU clock around the unit.
/// The fleet task's units are measured on the thread they started on; a unit that suspends and resumes
/// elsewhere is counted in part (its kind is then an underestimate, never another kind's time).
final class FleetCPU: Sendable {
    private let seconds = Mutex<[String: Double]>([:])

    func book(_ kind: String, seconds spent: Double) {
        guard spent > 0 else { return }
        seconds.withLock { $0[kind, default: 0] += spent }
    }

    var byKind: [String: Double] { seconds.withLock { $0 } }

    /// The calling thread's CPU time (user + system), in seconds.
    static func threadSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }

    /// The process's CPU time (user + system, every thread), in seconds.
    static func processSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
