import Foundation
import ThawModel
import ThawNN
import ThawWire

/// The worker's slow work, on one dedicated thread: building the base model from its checkpoint,
/// advancing stale batches through layers `[k, k')`, training heads and hashing them. Results come
/// back to the node as ``TrainerWorkerStateMachine/Event``s, so the socket loop and the node's event
/// handler never wait on BLAS: the worker keeps receiving, storing, rejecting and answering while it trains.
///
/// Thread rule: the ``Model`` is created, used and dropped only on this thread (it is a mutable class
/// whose head parameters training swaps in and out); other threads only submit work and read results.
final class TrainingThread: @unchecked Sendable {
    enum Work: Sendable {
        case load(ModelVersion, [UInt8])
        case advance(DeliveryToken, ThawWire.FeatureBatch, from: FreezePoint, to: FreezePoint, epoch: UInt64)
        case train(TrainerWorkerStateMachine.TrainingJob)
    }

    private let recipe: TrainingRecipe
    private let output: @Sendable (TrainerWorkerStateMachine.Event) -> Void
    private let condition = NSCondition()
    private var queue: [Work] = []
    private var stopped = false
    /// Touched only on the training thread.
    private var model: (version: ModelVersion, model: Model)?

    init(recipe: TrainingRecipe, output: @escaping @Sendable (TrainerWorkerStateMachine.Event) -> Void) {
        self.recipe = recipe
        self.output = output
    }

    func start(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.stackSize = 16 << 20
        thread.start()
    }

    func submit(_ work: Work) {
        condition.lock()
        queue.append(work)
        condition.signal()
        condition.unlock()
    }

    /// Stops after the job in progress; queued jobs are dropped (their rounds are abandoned, their
    /// batches re-sent by the devices).
    func stop() {
        condition.lock()
        stopped = true
        queue.removeAll()
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopped { condition.wait() }
            if stopped {
                condition.unlock()
                model = nil
                return
            }
            let work = queue.removeFirst()
            condition.unlock()
            perform(work)
        }
    }

    private func perform(_ work: Work) {
        switch work {
        case .load(let version, let bytes):
            do {
                let made = try ModelCheckpoint.decode(bytes).makeModel()
                model = (version, made)
                output(.modelLoaded(version, ModelContract(made.architecture)))
            } catch {
                output(.modelFailed(version, "\(error)"))
            }
        case .advance(let token, let batch, let from, let to, let epoch):
            guard let model, model.version.number == batch.modelVersion else {
                return output(.advanceRefused(token, batch, "model \(batch.modelVersion) is not loaded"))
            }
            let output = model.model.advance(
                checkpoint: WireBridge.tensor(batch.activations), from: from.index, to: to.index)
            var advanced = batch
            advanced.freezePoint = UInt32(to.index)
            advanced.activations = WireBridge.wire(output)
            advanced.epoch = epoch
            self.output(.advanced(token, advanced))
        case .train(let job):
            guard let model, model.version == job.modelVersion else {
                return output(.trainingFailed(job: job.id, "model \(job.modelVersion) is not loaded"))
            }
            // A job is built from rows the registry and phones sent; one that does not add up fails as a
            // job, never as the process.
            let width = job.sampleShape.reduce(1, *)
            guard width > 0, job.activations.count == job.labels.count * width else {
                return output(
                    .trainingFailed(
                        job: job.id,
                        "\(job.activations.count) activation values for \(job.labels.count) samples of shape \(job.sampleShape)"))
            }
            let activations = WireBridge.tensor(
                WireTensor(shape: [job.labels.count] + job.sampleShape, scalars: job.activations))
            let result = HeadTrainer(model: model.model, recipe: recipe).train(
                start: job.start, activations: activations, labels: job.labels, freezePoint: job.freezePoint,
                seed: job.seed)
            let hash = ContentHash.head(
                parameters: result.parameters, freezePoint: job.freezePoint, architecture: model.model.architecture
            ).hex
            output(
                .trained(
                    job: job.id,
                    TrainerWorkerStateMachine.TrainingResult(
                        parameters: result.parameters, headHash: hash, loss: result.loss, steps: result.steps)))
        }
    }
}
