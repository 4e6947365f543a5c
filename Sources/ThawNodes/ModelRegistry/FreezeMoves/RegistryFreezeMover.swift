import Foundation
import Logging
import ThawModel
import ThawNN
import ThawWire
import ThawZMQ

/// The registry node's glue for freeze moves: follows the coordinator's broadcasts, drives the
/// ``FeatureAdvancer`` one page per tick, and PUSHes a `RetrainRequest` per user to the workers when a
/// job finishes.
///
/// Owned by one ``RegistryFreezeMoveThread``: its pages are SQLite reads and writes and BLAS passes,
/// which never run on the registry's event handler.
struct RegistryFreezeMover {
    let store: any RegistryBackend
    let push: SocketID?
    let loop: SocketLoop
    let logger: Logger
    var stamper: EnvelopeStamper
    var advancer = FeatureAdvancer()
    var model: (version: ModelVersion, model: Model)?
    var malformed = 0
    var retrainsSent = 0

    init(store: any RegistryBackend, push: SocketID?, loop: SocketLoop, logger: Logger, stamper: EnvelopeStamper) {
        self.store = store
        self.push = push
        self.loop = loop
        self.logger = logger
        self.stamper = stamper
    }

    /// A published coordinator message (topic frame first).
    mutating func observe(_ frames: [[UInt8]]) {
        guard let decoded = try? WireCodec.decodePublished(frames) else {
            malformed += 1
            logger.warning("refused a malformed broadcast")
            return
        }
        guard let state = WireBridge.deploymentState(in: decoded.message) else { return }
        let previous = advancer.target
        advancer.follow(WireBridge.deployment(state))
        if let target = advancer.target, target != previous, !advancer.finished {
            logger.info(
                "following deployment; advancing stored activations if any are shallower",
                metadata: ["freeze.point": "\(target.freezePoint.index)", "model.version": "\(target.modelVersion)"])
        }
    }

    /// Whether a move is under way with pages left to advance.
    var hasWork: Bool { advancer.target != nil && !advancer.finished }

    /// One page of work, if there is any.
    /// - Returns: `false` when the store or the model failed (logged; the caller waits, then retries).
    @discardableResult
    mutating func step() -> Bool {
        guard let target = advancer.target, !advancer.finished else { return true }
        let step: FeatureAdvancer.Step
        do {
            let model = try self.model(target.modelVersion)
            step = try advancer.step(store: store, advance: FeatureAdvancer.modelAdvance(model))
        } catch {
            logger.warning("advancing stored activations failed; retrying", metadata: ["error": "\(error)"])
            return false
        }
        guard case .finished(let state, let users) = step else { return true }
        logger.info(
            "stored activations advanced",
            metadata: [
                "freeze.point": "\(state.freezePoint.index)", "rows": "\(advancer.rowsAdvanced)",
                "skipped": "\(advancer.rowsSkipped)", "retrain.users": "\(users.count)",
            ])
        guard let push else { return true }
        for user in users {
            let request = ThawMessage.retrainRequest(
                RetrainRequest(
                    userID: user.rawValue, state: WireBridge.wire(state), reason: "stored activations advanced"))
            // Non-blocking: with no worker connected the request is dropped; the next device batch of
            // that user trains on everything stored anyway.
            if (try? loop.trySend(try stamper.encode(request), on: push)) == true { retrainsSent += 1 }
        }
        return true
    }

    private mutating func model(_ version: ModelVersion) throws -> Model {
        if let model, model.version == version { return model.model }
        guard let record = try store.baseModel(version) else {
            throw NodeError(.badModel, "the registry has no base model \(version) to advance activations with")
        }
        let made = try ModelCheckpoint.decode([UInt8](record.blob)).makeModel()
        model = (version, made)
        return made
    }
}

/// Runs a ``RegistryFreezeMover`` on its own thread: broadcasts are handed over from the event handler,
/// and while a move has pages left the thread advances them back to back (a failure waits a second).
///
/// Thread rule: ``observe(_:)`` and ``stop()`` from any thread; the mover is touched only on this thread.
final class RegistryFreezeMoveThread: @unchecked Sendable {
    private let condition = NSCondition()
    private var broadcasts: [[[UInt8]]] = []
    private var stopped = false
    private var exited = false
    private var mover: RegistryFreezeMover

    init(mover: RegistryFreezeMover) {
        self.mover = mover
    }

    func start() {
        let thread = Thread { [self] in run() }
        thread.name = "registry-freeze-moves"
        thread.start()
    }

    /// A published coordinator message (topic frame first).
    func observe(_ frames: [[UInt8]]) {
        condition.lock()
        broadcasts.append(frames)
        condition.signal()
        condition.unlock()
    }

    /// Stops after the page in progress; blocks until the thread has exited.
    func stop() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while !exited { condition.wait() }
        condition.unlock()
    }

    private func run() {
        var failed = false
        while true {
            condition.lock()
            while !stopped && broadcasts.isEmpty && (!mover.hasWork || failed) {
                if failed {
                    _ = condition.wait(until: Date().addingTimeInterval(1))
                    failed = false
                } else {
                    condition.wait()
                }
            }
            if stopped {
                exited = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let received = broadcasts
            broadcasts = []
            condition.unlock()
            for frames in received { mover.observe(frames) }
            failed = !mover.step()
        }
    }
}
