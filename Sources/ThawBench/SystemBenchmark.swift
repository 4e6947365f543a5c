import Foundation
import ThawData
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology
import ThawWire
import ThawZMQ

/// `thaw bench system`: the distributed system measured as real processes on this host.
///
/// - **Throughput** with 1, 2, 4… workers: synthetic phones (``SyntheticPhone``) PUSH a fixed set of
///   feature batches at once; the clock stops when the registry holds, for every user, a committed head
///   trained on all of that user's samples. This measures the cloud pipeline (PULL, store, fetch, train,
///   compare-and-set commit), not the devices' flush policy.
/// - **Broadcast-to-eviction latency**: one device process simulating N phones runs until its phones
///   have cached activations; then a new model version is published and, later, the freeze point moved.
///   Each phone's latency is the time from the coordinator sending the broadcast to that phone having
///   applied it (stale entries evicted), as the device process reports it.
/// - **Memory per simulated device**: resident memory of device processes with few and many phones,
///   measured at the same age; the slope is the cost of one more phone.
public struct SystemBenchmark {
    public struct Settings: Sendable {
        public var executable: String
        public var workerCounts: [Int] = [1, 2]
        public var users = 8
        public var batchesPerUser = 8
        public var samplesPerBatch = 32
        public var epochs = 2
        public var freezePoint = 7
        public var evictionPhones = 1000
        public var memoryPhones: [Int] = [10, 1000]
        public var warmUp: Duration = .seconds(20)
        public var timeout: Duration = .seconds(600)
        /// Batches one user sends one after another (each waited for) to compare its 1st and last batch's
        /// push-to-committed-head time; 0 skips the measurement.
        public var historyBatches = 100
        /// Whether to measure eviction latency and device memory too (the device-side measurements).
        public var deviceMeasurements = true
        /// A PostgreSQL server (`postgres://…`, a login that may create databases): every throughput run
        /// is then made on SQLite and on PostgreSQL with each of ``registryCounts`` registry processes,
        /// each on a database of its own, and followed by a head-pull measurement.
        public var database: String?
        public var registryCounts: [Int] = [1, 2]
        /// How long each head-pull measurement runs, and how many pulls are in flight.
        public var headPullDuration: Duration = .seconds(5)
        public var headPullWindow = 16

        public init(executable: String) { self.executable = executable }
    }

    public struct Throughput: Codable, Sendable {
        public var workers: Int
        /// `sqlite` or `postgres` (only with `--database`).
        public var backend: String? = nil
        /// Registry processes (only with `--database`).
        public var registries: Int? = nil
        /// Full head pulls answered per second after the run (only with `--database`).
        public var headPullsPerSecond: Double? = nil
        /// Batches pushed again because no head had taken them 15 s after the last progress.
        public var resentBatches: Int? = nil
        public var users: Int
        public var batches: Int
        public var samples: Int
        public var seconds: Double
        public var samplesPerSecond: Double
        public var batchesPerSecond: Double
        /// Heads committed in the run (at least one per user; fewer than batches when a user's batches
        /// arriving during a training round are coalesced into the next one).
        public var headsCommitted: Int
        /// Peak resident memory of each worker process, KiB.
        public var workerPeakKiB: [Int]
        public var registryPeakKiB: Int
        /// CPU seconds the benchmark process itself (pushing, polling the registry's database) used in
        /// the timed window: the load generator's cost on the same cores. Backbone activations are
        /// computed before the clock starts.
        public var loadGeneratorCPUSeconds: Double
        /// `samplesPerSecond` ÷ the engine's new samples/s for the same head and recipe (``Engine``): new
        /// rows plus the replay a worker adds to each round.
        public var engineRatio: Double?
        /// `samplesPerSecond` ÷ the engine's new samples/s with no replay at all (every pass a new sample).
        public var engineRatioWithoutReplay: Double?
        /// CPU seconds (user + system, from /proc) of the registry and of each worker process in the window.
        public var registryCPUSeconds: Double?
        public var workerCPUSeconds: [Double]?
        /// Every measured process's CPU (registry, workers, load generator) over window × cores: how busy
        /// the machine was, which says whether more workers can help on it.
        public var machineBusyShare: Double?
    }

    /// The engine alone: ``HeadTrainer`` on one BLAS thread in this process, the same head, recipe and
    /// activations as the workers, no sockets and no registry.
    public struct Engine: Codable, Sendable {
        public var samples: Int
        public var epochs: Int
        public var batchSize: Int
        /// Median of the timed runs.
        public var seconds: Double
        /// New samples trained per second with the recipe (`samples / seconds`, each seen `epochs` times).
        public var newSamplesPerSecond: Double
        /// Sample passes per second (`samples × epochs / seconds`, replayed ones included), the unit of
        /// `thaw bench train`.
        public var samplePassesPerSecond: Double
        /// Older rows trained with the `samples` new ones, as a worker's round does (its default replay
        /// budget: `replayFraction` × new rows, at most `replaySamples`).
        public var replayedSamples: Int?
        /// New samples per second when the same samples are trained without replay.
        public var newSamplesPerSecondWithoutReplay: Double?
        /// New samples per second of two engines training at once on two threads (each the same round as
        /// above, each its own model): what two workers could do on this machine if nothing else ran.
        public var twoAtOnceNewSamplesPerSecond: Double?
        /// `twoAtOnceNewSamplesPerSecond ÷ newSamplesPerSecond`: the machine's ceiling for two workers'
        /// scaling. On two independent cores it is near 2; on two hyper-threads of one core much less.
        public var twoAtOnceScaling: Double?
    }

    /// Push-to-committed-head time of one user's batches sent one after another, each waited for.
    public struct History: Codable, Sendable {
        public var batches: Int
        public var samplesPerBatch: Int
        public var firstMs: Double
        public var lastMs: Double
        /// Median over the last ten batches.
        public var lastTenMedianMs: Double
        /// Median over the first ten batches.
        public var firstTenMedianMs: Double?
        /// `lastTenMedianMs / firstTenMedianMs`: single batches vary 2–5× with what else the registry and
        /// the machine do (a WAL checkpoint, another process), so the ends are compared by their medians.
        public var ratio: Double
        public var latenciesMs: [Double]
    }

    /// The same record as the fleet benchmark's (its `sweptMs` stays absent here).
    public typealias Eviction = FleetBenchmark.Eviction

    public struct Memory: Codable, Sendable {
        public var phones: Int
        public var rssKiB: Int
        public var peakKiB: Int
    }

    public struct Results: Codable, Sendable {
        public var host: String
        public var cores: Int
        public var architecture: String
        public var freezePoint: Int
        public var engine: Engine?
        public var throughput: [Throughput] = []
        public var history: History?
        /// 2-worker samples/s ÷ 1-worker samples/s, when both ran.
        public var twoWorkerScaling: Double?
        public var eviction: [Eviction] = []
        public var memory: [Memory] = []
        /// (RSS with the most phones − RSS with the fewest) / (difference in phones), KiB.
        public var memoryPerPhoneKiB: Double?
    }

    public let settings: Settings
    public let progress: @Sendable (String) -> Void

    public init(settings: Settings, progress: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.progress = progress
    }

    /// Runs every measurement; `workDirectory` (short path) is created, and removed when all succeed.
    public func run(workDirectory: String) async throws -> Results {
        try FileManager.default.createDirectory(atPath: workDirectory, withIntermediateDirectories: true)
        let modelPath = "\(workDirectory)/base-model.thaw"
        try BenchCluster.writeUntrainedModel(to: modelPath)
        var results = Results(
            host: ProcessInfo.processInfo.hostName, cores: ProcessInfo.processInfo.activeProcessorCount,
            architecture: "FedAvg CNN (McMahan et al. 2017)", freezePoint: settings.freezePoint)
        progress("engine: HeadTrainer alone, one BLAS thread")
        results.engine = try engine(modelPath: modelPath)
        // Without --database: the SQLite registry only, as before. With it: SQLite, then PostgreSQL with
        // each registry count, side by side for each worker count.
        let backends: [(server: String?, registries: Int)] =
            settings.database.map { server in [(nil, 1)] + settings.registryCounts.map { (server, $0) } } ?? [(nil, 1)]
        var run = 0
        for workers in settings.workerCounts {
            for backend in backends {
                let cluster = try BenchCluster(
                    directory: "\(workDirectory)/t\(run)", executable: settings.executable, baseModelPath: modelPath)
                var database: (server: String, name: String, url: String)?
                do {
                    if let server = backend.server {
                        let name = "thaw_bench_\(getpid())_\(run)"
                        database = (server, name, try PostgresScratchDatabase.create(serverURL: server, name: name))
                    }
                    var row = try await throughput(
                        cluster, workers: workers, modelPath: modelPath, database: database?.url,
                        registries: backend.registries)
                    if settings.database != nil {
                        row.backend = backend.server == nil ? "sqlite" : "postgres"
                        row.registries = backend.registries
                    }
                    results.throughput.append(row)
                } catch {
                    await cluster.stopAll()
                    if let database { try? PostgresScratchDatabase.drop(serverURL: database.server, name: database.name) }
                    throw error
                }
                await cluster.stopAll()
                if let database { try? PostgresScratchDatabase.drop(serverURL: database.server, name: database.name) }
                run += 1
            }
        }
        if let engine = results.engine {
            for index in results.throughput.indices {
                results.throughput[index].engineRatio = results.throughput[index].samplesPerSecond / engine.newSamplesPerSecond
                if let plain = engine.newSamplesPerSecondWithoutReplay {
                    results.throughput[index].engineRatioWithoutReplay = results.throughput[index].samplesPerSecond / plain
                }
            }
        }
        if let one = results.throughput.first(where: { $0.workers == 1 && $0.backend ?? "sqlite" == "sqlite" }),
            let two = results.throughput.first(where: { $0.workers == 2 && $0.backend ?? "sqlite" == "sqlite" })
        {
            results.twoWorkerScaling = two.samplesPerSecond / one.samplesPerSecond
        }
        if settings.historyBatches > 0 {
            let cluster = try BenchCluster(
                directory: "\(workDirectory)/h", executable: settings.executable, baseModelPath: modelPath)
            do {
                results.history = try await history(cluster, modelPath: modelPath)
            } catch {
                await cluster.stopAll()
                throw error
            }
            await cluster.stopAll()
        }
        guard settings.deviceMeasurements else {
            if ProcessInfo.processInfo.environment["THAW_BENCH_KEEP"] == nil {
                try? FileManager.default.removeItem(atPath: workDirectory)
            }
            return results
        }
        // Each change gets a fresh deployment: a broadcast that arrives while the device process is still
        // recomputing after an earlier change waits behind that work, which would measure the recompute.
        for change in [DeploymentChange.modelVersion, .freezePoint] {
            let cluster = try BenchCluster(
                directory: "\(workDirectory)/e-\(change)", executable: settings.executable, baseModelPath: modelPath)
            do {
                results.eviction.append(try await eviction(cluster, change: change, modelPath: modelPath))
            } catch {
                await cluster.stopAll()
                throw error
            }
            await cluster.stopAll()
        }
        for (index, phones) in settings.memoryPhones.enumerated() {
            let cluster = try BenchCluster(
                directory: "\(workDirectory)/m\(index)", executable: settings.executable, baseModelPath: modelPath)
            do {
                results.memory.append(try await memory(cluster, phones: phones))
            } catch {
                await cluster.stopAll()
                throw error
            }
            await cluster.stopAll()
        }
        // Kept on failure, for the nodes' logs; removed once every measurement succeeded.
        try? FileManager.default.removeItem(atPath: workDirectory)
        if let few = results.memory.min(by: { $0.phones < $1.phones }),
            let many = results.memory.max(by: { $0.phones < $1.phones }), many.phones > few.phones
        {
            results.memoryPerPhoneKiB = Double(many.rssKiB - few.rssKiB) / Double(many.phones - few.phones)
        }
        return results
    }

    // MARK: - Throughput

    private func throughput(
        _ cluster: BenchCluster, workers: Int, modelPath: String, database: String? = nil, registries: Int = 1
    ) async throws -> Throughput {
        try cluster.writeTopology(
            workers: workers, phones: 1, freezePoint: settings.freezePoint, epochs: settings.epochs,
            database: database, registries: registries)
        let registryNames = BenchCluster.registryNames(registries)
        for name in registryNames { try await cluster.start(name, role: .registry) }
        try await cluster.start("coordinator", role: .coordinator)
        let workerNames = try cluster.instances(of: .worker).map(\.name)
        for name in workerNames { try await cluster.start(name, role: .worker) }
        let endpoints = try cluster.instances(of: .worker).compactMap { $0.endpoints["pull"] }
            .map { Endpoint($0.description) }
        let state = try await ControlClient(endpoint: Endpoint(cluster.controlEndpoint)).send(.status)
        // A worker drops batches that arrive before its first heartbeat (a real device re-sends them; these
        // synthetic phones do not), so wait for two heartbeat intervals before pushing.
        try await Task.sleep(for: .milliseconds(2500))

        let model = try ModelCheckpoint.load(from: modelPath).makeModel()
        let images = try HandwritingDataset.shipped().test
        var messages: [ThawMessage] = []
        for user in 0..<settings.users {
            let phone = SyntheticPhone(
                model: model, state: state, images: images, user: "bench-user-\(user)", device: "bench-phone-\(user)")
            for seq in 1...settings.batchesPerUser {
                messages.append(phone.batch(seq: UInt64(user * settings.batchesPerUser + seq), count: settings.samplesPerBatch))
            }
        }
        // Interleave users so that every worker sees every user, as with real phones flushing at random.
        messages = (0..<settings.batchesPerUser).flatMap { b in
            (0..<settings.users).map { messages[$0 * settings.batchesPerUser + b] }
        }
        let perUser = settings.batchesPerUser * settings.samplesPerBatch
        progress(
            "throughput: \(workers) worker(s), \(registries) registr\(registries == 1 ? "y" : "ies") on "
                + "\(database == nil ? "SQLite" : "PostgreSQL"), \(messages.count) batches of \(settings.samplesPerBatch) samples")

        let nodes = registryNames + workerNames
        let store = try RegistryBackends.open(database ?? cluster.databasePath)
        defer { try? store.close() }
        var waiting = Set(messages.compactMap { message -> BatchKey? in
            guard case .featureBatch(let batch) = message else { return nil }
            return BatchKey(device: batch.deviceID, seq: batch.deviceSeq)
        })
        // The window starts at the first send, not before the push's connection wait.
        var nodeCPUBefore: [Double] = []
        var started = ContinuousClock.now
        var cpuBefore = 0.0
        var resent = 0
        try await SyntheticPhone.push(messages, to: endpoints, connected: {
            nodeCPUBefore = nodes.map { FleetBenchmark.cpuSeconds(cluster, node: $0) ?? 0 }
            started = ContinuousClock.now
            cpuBefore = Self.processCPUSeconds()
        }) {
            // Done when every batch is named by a committed head (the registry's own record), however many
            // heads that took.
            var lastProgress = ContinuousClock.now
            while ContinuousClock.now - started < settings.timeout, !waiting.isEmpty {
                // One read of the index per poll, decided as the registry decides acknowledgements; the same
                // for both backends.
                let index = try store.loadIndex()
                let before = waiting.count
                waiting = waiting.filter { key in
                    !(index.batch(DeviceID(key.device), key.seq).map(index.isTrained) ?? false)
                }
                if waiting.count < before { lastProgress = ContinuousClock.now }
                // A worker that gave up on a batch (a registry reply later than its request timeout) leaves it
                // for the phone to re-send; a real phone's outbox does that, so these synthetic ones do too.
                if !waiting.isEmpty, ContinuousClock.now - lastProgress > .seconds(15) {
                    let again = messages.filter { message in
                        guard case .featureBatch(let batch) = message else { return false }
                        return waiting.contains(BatchKey(device: batch.deviceID, seq: batch.deviceSeq))
                    }
                    progress("re-sending \(again.count) batches no head has taken after 15 s")
                    try await SyntheticPhone.push(again, to: endpoints)
                    resent += again.count
                    lastProgress = ContinuousClock.now
                }
                if !waiting.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
        }
        let elapsed = ContinuousClock.now - started
        let cpu = Self.processCPUSeconds() - cpuBefore
        let nodeCPU = zip(nodes, nodeCPUBefore).map { (FleetBenchmark.cpuSeconds(cluster, node: $0) ?? $1) - $1 }
        guard waiting.isEmpty else {
            throw NodeError(.timeout, "workers did not train every batch within \(settings.timeout)")
        }
        let seconds = Self.seconds(elapsed)
        let users = (0..<settings.users).map { UserID("bench-user-\($0)") }
        let heads = try users.reduce(0) { $0 + (try store.headHistory($1).count) }
        let samples = perUser * settings.users
        var headPulls: Double?
        if settings.database != nil {
            progress("head pulls: \(settings.headPullWindow) in flight for \(settings.headPullDuration)")
            let pulled = try await HeadPullLoad.run(
                registries: cluster.registryEndpoints(registries).map { Endpoint($0) },
                users: (0..<settings.users).map { ("bench-user-\($0)", "bench-phone-\($0)") }, state: state,
                window: settings.headPullWindow, duration: settings.headPullDuration)
            guard pulled.failures == 0 else {
                throw NodeError(.refused, "\(pulled.failures) head pulls were not answered with a head")
            }
            headPulls = Double(pulled.pulls) / pulled.seconds
        }
        let registryCPU = nodeCPU.prefix(registryNames.count).reduce(0, +)
        var row = Throughput(
            workers: workers, users: settings.users, batches: messages.count, samples: samples, seconds: seconds,
            samplesPerSecond: Double(samples) / seconds, batchesPerSecond: Double(messages.count) / seconds,
            headsCommitted: heads, workerPeakKiB: workerNames.compactMap { cluster.memory(of: $0)?.peakKiB },
            registryPeakKiB: cluster.memory(of: "registry")?.peakKiB ?? 0, loadGeneratorCPUSeconds: cpu,
            engineRatio: nil, engineRatioWithoutReplay: nil, registryCPUSeconds: registryCPU,
            workerCPUSeconds: Array(nodeCPU.dropFirst(registryNames.count)),
            machineBusyShare: (nodeCPU.reduce(0, +) + cpu)
                / (Self.seconds(elapsed) * Double(ProcessInfo.processInfo.activeProcessorCount)))
        row.headPullsPerSecond = headPulls
        row.resentBatches = resent
        return row
    }

    struct BatchKey: Hashable {
        var device: String
        var seq: UInt64
    }

    // MARK: - Engine

    private func engine(modelPath: String) throws -> Engine {
        BLAS.setThreadCount(1)
        let model = try ModelCheckpoint.load(from: modelPath).makeModel()
        let samples = 256
        // A worker's round trains its new rows plus a seeded replay of older ones (TrainerWorkerNode's
        // defaults); the engine does the same work, so the ratio compares like with like.
        let replayed = min(
            TrainerWorkerNode.Configuration.defaultReplaySamples,
            Int((Double(samples) * TrainerWorkerNode.Configuration.defaultReplayFraction).rounded(.up)))
        let state = DeploymentState(
            modelVersion: ModelVersion(1), modelHash: "", freezePoint: FreezePoint(settings.freezePoint),
            hyperParameterHash: "", epoch: 1)
        let phone = SyntheticPhone(
            model: model, state: state, images: try HandwritingDataset.shipped().test, user: "engine", device: "engine")
        guard case .featureBatch(let batch) = phone.batch(seq: 1, count: samples + replayed) else {
            throw NodeError(.badConfiguration, "the synthetic phone made no batch")
        }
        let all = Tensor(shape: batch.activations.shape, scalars: batch.activations.scalars)
        let width = batch.activations.scalars.count / (samples + replayed)
        let newOnly = Tensor(
            shape: [samples] + Array(batch.activations.shape.dropFirst()),
            scalars: Array(batch.activations.scalars.prefix(samples * width)))
        let labels = batch.labels.map(Int.init)
        let trainer = HeadTrainer(model: model, recipe: recipe)
        func time(_ activations: Tensor, _ labels: [Int], seed: UInt64) -> Double {
            let started = ContinuousClock.now
            _ = trainer.train(
                start: nil, activations: activations, labels: labels, freezePoint: state.freezePoint, seed: seed)
            return Self.seconds(ContinuousClock.now - started)
        }
        // Alternated run by run (after one warm-up of each), so both see the same machine; medians of nine.
        _ = time(newOnly, Array(labels.prefix(samples)), seed: 0)
        _ = time(all, labels, seed: 0)
        var plainTimes: [Double] = []
        var replayTimes: [Double] = []
        for run in 1...9 {
            plainTimes.append(time(newOnly, Array(labels.prefix(samples)), seed: UInt64(run)))
            replayTimes.append(time(all, labels, seed: UInt64(run)))
        }
        let plain = plainTimes.sorted()[plainTimes.count / 2]
        let withReplay = replayTimes.sorted()[replayTimes.count / 2]
        // Two engines at once, each on its own thread with its own model and trainer (BLAS stays at one
        // thread per call), timed until both finish; median of five. Two workers cannot beat this.
        // Each thread touches only its own trainer, so sharing the array across the two threads is safe.
        nonisolated(unsafe) let copies = try (0..<2).map { _ in HeadTrainer(model: try ModelCheckpoint.load(from: modelPath).makeModel(), recipe: recipe) }
        let replayLabels = labels
        var pairTimes: [Double] = []
        for run in 1...5 {
            let started = ContinuousClock.now
            DispatchQueue.concurrentPerform(iterations: 2) { copy in
                _ = copies[copy].train(
                    start: nil, activations: all, labels: replayLabels, freezePoint: state.freezePoint,
                    seed: UInt64(run * 2 + copy))
            }
            pairTimes.append(Self.seconds(ContinuousClock.now - started))
        }
        let pair = pairTimes.sorted()[pairTimes.count / 2]
        let twoAtOnce = Double(2 * samples) / pair
        return Engine(
            samples: samples, epochs: recipe.epochs, batchSize: recipe.batchSize, seconds: withReplay,
            newSamplesPerSecond: Double(samples) / withReplay,
            samplePassesPerSecond: Double((samples + replayed) * recipe.epochs) / withReplay,
            replayedSamples: replayed, newSamplesPerSecondWithoutReplay: Double(samples) / plain,
            twoAtOnceNewSamplesPerSecond: twoAtOnce, twoAtOnceScaling: twoAtOnce / (Double(samples) / withReplay))
    }

    /// The recipe ``BenchCluster/writeTopology`` gives the workers (learning rate 0.05, plain SGD,
    /// the topology's default batch size).
    var recipe: TrainingRecipe {
        TrainingRecipe(
            optimizer: .sgd(learningRate: 0.05, momentum: 0, weightDecay: 0), epochs: settings.epochs, batchSize: 32)
    }

    // MARK: - History

    /// One worker; a warm-up user first (the worker loads the base model on its first batch), then one
    /// user's batches pushed one at a time, each waited for until a committed head names it.
    private func history(_ cluster: BenchCluster, modelPath: String) async throws -> History {
        try cluster.writeTopology(workers: 1, phones: 1, freezePoint: settings.freezePoint, epochs: settings.epochs)
        try await cluster.start("registry", role: .registry)
        try await cluster.start("coordinator", role: .coordinator)
        try await cluster.start("worker", role: .worker)
        let endpoint = try cluster.instances(of: .worker).compactMap { $0.endpoints["pull"] }.map { Endpoint($0.description) }
        let state = try await ControlClient(endpoint: Endpoint(cluster.controlEndpoint)).send(.status)
        try await Task.sleep(for: .milliseconds(2500))
        let model = try ModelCheckpoint.load(from: modelPath).makeModel()
        let images = try HandwritingDataset.shipped().test
        let warm = SyntheticPhone(model: model, state: state, images: images, user: "warm-up", device: "warm-up")
        let phone = SyntheticPhone(model: model, state: state, images: images, user: "history", device: "history")
        let messages = (1...settings.historyBatches).map { phone.batch(seq: UInt64($0), count: settings.samplesPerBatch) }
        let store = try RegistryStore(path: cluster.databasePath)
        defer { try? store.close() }
        progress("history: \(settings.historyBatches) batches of one user, one at a time")
        return try await SyntheticPhone.withPusher(to: endpoint) { push in
            func pushed(_ message: ThawMessage, device: String, seq: UInt64) async throws -> Double {
                let started = ContinuousClock.now
                try await push(message)
                while try !store.isTrained(device: DeviceID(device), sequence: seq) {
                    guard ContinuousClock.now - started < settings.timeout else {
                        throw NodeError(.timeout, "batch \(device)#\(seq) was not trained within \(settings.timeout)")
                    }
                    try await Task.sleep(for: .milliseconds(2))
                }
                return Self.seconds(ContinuousClock.now - started) * 1000
            }
            _ = try await pushed(warm.batch(seq: 1, count: settings.samplesPerBatch), device: "warm-up", seq: 1)
            var latencies: [Double] = []
            for (index, message) in messages.enumerated() {
                latencies.append(try await pushed(message, device: "history", seq: UInt64(index + 1)))
            }
            let head = latencies.prefix(10).sorted()
            let tail = latencies.suffix(10).sorted()
            return History(
                batches: latencies.count, samplesPerBatch: settings.samplesPerBatch, firstMs: latencies[0],
                lastMs: latencies[latencies.count - 1], lastTenMedianMs: tail[tail.count / 2],
                firstTenMedianMs: head[head.count / 2], ratio: tail[tail.count / 2] / head[head.count / 2],
                latenciesMs: latencies)
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// User plus system CPU time of this process so far.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func value(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return value(usage.ru_utime) + value(usage.ru_stime)
    }

    // MARK: - Eviction latency

    enum DeploymentChange: String {
        case modelVersion = "model"
        case freezePoint = "freeze"
    }

    private func eviction(_ cluster: BenchCluster, change: DeploymentChange, modelPath: String) async throws -> Eviction {
        let phones = settings.evictionPhones
        try cluster.writeTopology(workers: 1, phones: phones, freezePoint: settings.freezePoint, epochs: 1)
        try await cluster.start("registry", role: .registry)
        try await cluster.start("coordinator", role: .coordinator)
        try await cluster.start("worker", role: .worker)
        try await cluster.start("phones", role: .device)
        progress("eviction (\(change.rawValue)): \(phones) phones warming up for \(settings.warmUp)")
        try await Task.sleep(for: settings.warmUp)
        let control = ControlClient(endpoint: Endpoint(cluster.controlEndpoint))
        switch change {
        case .modelVersion:
            var contents = try ModelCheckpoint.load(from: modelPath)
            contents.version = ModelVersion(2)
            contents.parameters = contents.parameters.map { $0 * 0.99 }
            let next = "\(cluster.directory)/base-model-v2.thaw"
            try ModelCheckpoint.save(contents, to: next)
            progress("eviction: publishing model v2")
            _ = try await ModelPublisher(registry: Endpoint(cluster.registryEndpoint), coordinator: control)
                .publish(checkpointAt: next)
            return try await applied(cluster, change: "model version 1 -> 2", marker: "\"modelVersion\":2")
        case .freezePoint:
            let k = settings.freezePoint - 1
            progress("eviction: moving the freeze point to \(k)")
            _ = try await control.send(.freeze(k))
            return try await applied(
                cluster, change: "freeze point \(settings.freezePoint) -> \(k)", marker: "\"freezePoint\":\(k)")
        }
    }

    private func applied(_ cluster: BenchCluster, change: String, marker: String) async throws -> Eviction {
        let deadline = ContinuousClock.now + settings.timeout
        while ContinuousClock.now < deadline {
            if let line = cluster.lines(of: "phones").last(where: {
                $0.contains("\"event\":\"deployment-applied\"") && $0.contains(marker)
            }) {
                let applied = try JSONDecoder().decode(DeploymentAppliedLine.self, from: Data(line.utf8))
                return Eviction(
                    change: change, phones: applied.phones, evicted: applied.evicted, latencyMs: applied.latencyMs,
                    sweptMs: nil)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw NodeError(.timeout, "the device process never applied \(change)")
    }

    // MARK: - Memory

    private func memory(_ cluster: BenchCluster, phones: Int) async throws -> Memory {
        try cluster.writeTopology(workers: 1, phones: phones, freezePoint: settings.freezePoint, epochs: 1)
        try await cluster.start("registry", role: .registry)
        try await cluster.start("coordinator", role: .coordinator)
        try await cluster.start("worker", role: .worker)
        try await cluster.start("phones", role: .device)
        progress("memory: \(phones) phones running for \(settings.warmUp)")
        try await Task.sleep(for: settings.warmUp)
        let sample = cluster.memory(of: "phones") ?? (0, 0)
        return Memory(phones: phones, rssKiB: sample.rssKiB, peakKiB: sample.peakKiB)
    }
}
