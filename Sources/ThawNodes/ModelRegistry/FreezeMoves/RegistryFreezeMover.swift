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
/// Owned by the registry node's single task, like the store calls it makes.
struct RegistryFreezeMover {
    let store: RegistryStore
    let push: SocketID?
    let loop: SocketLoop
    let logger: Logger
    var stamper: EnvelopeStamper
    var advancer = FeatureAdvancer()
    var model: (version: ModelVersion, model: Model)?
    var malformed = 0
    var retrainsSent = 0

    init(store: RegistryStore, push: SocketID?, loop: SocketLoop, logger: Logger, stamper: EnvelopeStamper) {
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

    /// One page of work, if there is any; a store or model failure is logged and retried next tick.
    mutating func tick() async throws {
        guard let target = advancer.target, !advancer.finished else { return }
        let step: FeatureAdvancer.Step
        do {
            let model = try self.model(target.modelVersion)
            step = try advancer.step(store: store, advance: FeatureAdvancer.modelAdvance(model))
        } catch {
            logger.warning("advancing stored activations failed; retrying", metadata: ["error": "\(error)"])
            return
        }
        guard case .finished(let state, let users) = step else { return }
        logger.info(
            "stored activations advanced",
            metadata: [
                "freeze.point": "\(state.freezePoint.index)", "rows": "\(advancer.rowsAdvanced)",
                "skipped": "\(advancer.rowsSkipped)", "retrain.users": "\(users.count)",
            ])
        guard let push else { return }
        for user in users {
            let request = ThawMessage.retrainRequest(
                RetrainRequest(
                    userID: user.rawValue, state: WireBridge.wire(state), reason: "stored activations advanced"))
            // Non-blocking: with no worker connected the request is dropped; the next device batch of
            // that user trains on everything stored anyway.
            if (try? loop.trySend(try stamper.encode(request), on: push)) == true { retrainsSent += 1 }
        }
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
