import Foundation
import Synchronization
import ThawModel
import ThawNN
import ThawNodes
import ThawTopology
import ThawWire
import ThawZMQ

/// The registry alone under not-modified head pulls (issue #12): a `thaw registry` process (any build,
/// so the same client measures the code before and after a change) on an ipc:// endpoint, seeded over
/// the wire with one head per user, then `clients` DEALER sockets that each keep one conditional
/// `HeadRequest` in flight (`have_hash` = the current head, so every answer is `NOT_MODIFIED`) for
/// `seconds`. Reports pulls per second and latency percentiles measured in this process.
///
/// That closed loop measures capacity, not latency: with `clients` requests always queued, the mean
/// latency is `clients ÷ rate` by Little's law whatever the registry does. So the same run then offers
/// a fixed rate (`offeredRate`, open loop, as phones would: requests are sent on a schedule whether or
/// not earlier ones were answered) over the same clients, and each latency is measured from the
/// request's *scheduled* send time, so a sender that falls behind counts against the registry rather
/// than hiding its delay (no coordinated omission).
public struct RegistryBenchmark: Sendable {
    /// Latency at a fixed offered rate (open loop).
    public struct OpenLoop: Codable, Sendable {
        public var offeredPerSecond: Double
        public var answeredPerSecond: Double
        public var pulls: Int
        public var notModified: Int
        /// Requests whose reply never came before the end of the drain (counted, not in the percentiles).
        public var unanswered: Int
        /// How late the sender put requests on their sockets (p99, ms): part of every latency below.
        public var senderLateP99Ms: Double?
        public var p50Ms: Double
        public var p90Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
    }

    public struct Result: Codable, Sendable {
        public var registryExecutable: String
        public var clients: Int
        public var users: Int
        public var freezePoint: Int
        public var headParameters: Int
        public var seconds: Double
        public var pulls: Int
        public var notModified: Int
        public var pullsPerSecond: Double
        public var p50Ms: Double
        public var p90Ms: Double
        public var p99Ms: Double
        public var maxMs: Double
        /// The same registry and clients at `offeredRate` (nil when not measured or in older entries).
        public var openLoop: OpenLoop?
    }

    public var executable: String
    public var clients: Int
    public var users: Int
    public var freezePoint: Int
    public var seconds: Double
    public var scratch: String
    /// Pulls per second offered in the open-loop phase; 0 skips it.
    public var offeredRate: Double

    public init(
        executable: String, clients: Int, users: Int, freezePoint: Int, seconds: Double, scratch: String,
        offeredRate: Double = 10_000
    ) {
        self.offeredRate = offeredRate
        self.executable = executable
        self.clients = clients
        self.users = users
        self.freezePoint = freezePoint
        self.seconds = seconds
        self.scratch = scratch
    }

    public func run(log: @escaping @Sendable (String) -> Void) async throws -> Result {
        let directory = "\(scratch)/thaw-rb-\(UInt32.random(in: 0...UInt32.max))"
        let modelPath = "\(directory)/base-model.thaw"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let architecture = ModelArchitecture.fedAvgCNN()
        try BenchCluster.writeUntrainedModel(to: modelPath)
        let cluster = try BenchCluster(directory: directory, executable: executable, baseModelPath: modelPath)
        try cluster.writeTopology(workers: 1, phones: 1, freezePoint: freezePoint, epochs: 1)
        do {
            try await cluster.start("registry", role: .registry)
            let endpoint = Endpoint(cluster.registryEndpoint)
            let k = FreezePoint(freezePoint)
            let headCount = architecture.parameterCount(layers: freezePoint..<architecture.layerCount)
            log("seeding \(users) heads of \(headCount) parameters at k=\(freezePoint)")
            var hashes: [String] = []
            for user in 0..<users {
                let parameters = (0..<headCount).map { Float(($0 &* 31 &+ user) % 97) * 0.001 }
                let hash = ContentHash.head(parameters: parameters, freezePoint: k, architecture: architecture).hex
                let reply = try await OneShotRequest.send(
                    .headCommit(
                        HeadCommit(
                            userID: "bench-user-\(user)", parentVersion: 0, modelVersion: 1,
                            freezePoint: UInt32(freezePoint), hyperHash: "bench", headHash: hash, consumed: [],
                            metrics: TrainingMetrics(loss: 0.1, samples: 0, steps: 1),
                            headParameters: WireTensor(flat: parameters))),
                    to: endpoint, sender: "bench-seed", timeout: .seconds(60), peer: "registry")
                guard case .commitAck = reply else { throw NodeError(.refused, "seeding user \(user): \(reply)") }
                hashes.append(hash)
            }
            log("\(clients) clients pulling for \(seconds) s")
            var result = try await measure(endpoint: endpoint, hashes: hashes, headParameters: headCount)
            if offeredRate > 0 {
                log("\(clients) clients offering \(Int(offeredRate)) pulls/s for \(seconds) s (open loop)")
                result.openLoop = try await measureOpenLoop(endpoint: endpoint, hashes: hashes)
            }
            await cluster.stopAll()
            return result
        } catch {
            await cluster.stopAll()
            throw error
        }
    }

    /// One DEALER per client, each connected to the registry.
    private func clientSockets(_ endpoint: Endpoint) -> [SocketSpec] {
        (0..<clients).map { _ in SocketSpec(kind: .dealer, connect: [endpoint], options: [.maxMessageSize(64 << 20)]) }
    }

    /// Client `c`'s conditional pull: user `c mod users`, with that user's current hash (NOT_MODIFIED).
    private func headRequests(_ hashes: [String]) -> [ThawMessage] {
        (0..<clients).map { client in
            let user = client % hashes.count
            return .headRequest(
                HeadRequest(
                    userID: "bench-user-\(user)", deviceID: "bench-device-\(client)", haveHash: hashes[user],
                    modelVersion: 1, freezePoint: UInt32(freezePoint)))
        }
    }

    /// Client `c`'s request `sequence` as frames.
    private static func frames(_ request: ThawMessage, client: Int, sequence: UInt64) throws -> [Frame] {
        try WireCodec.encode(request, metadata: WireMetadata(sender: "bench-\(client)", sequence: sequence, sentAtUnixMs: 1))
            .map { Frame($0) }
    }

    /// One round trip per client, not measured (connections, the registry's first answers).
    private static func warmUp(_ loop: SocketLoop, requests: [[Frame]]) async throws {
        for (client, frames) in requests.enumerated() { try await loop.send(frames, on: loop.sockets[client]) }
        var warm = 0
        for try await _ in loop.inbound {
            warm += 1
            if warm == requests.count { break }
        }
    }

    /// The value at quantile `p` of ascending `sorted` (0 when empty).
    private static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }

    private func measure(endpoint: Endpoint, hashes: [String], headParameters: Int) async throws -> Result {
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let requests = try headRequests(hashes).enumerated().map { try Self.frames($0.element, client: $0.offset, sequence: 1) }
        return try await withSocketLoop(context: context, sockets: clientSockets(endpoint), queueCapacity: 4096) { loop in
            var sentAt = [ContinuousClock.Instant](repeating: .now, count: clients)
            var latencies: [Double] = []
            latencies.reserveCapacity(1 << 20)
            var notModified = 0
            var pulls = 0
            let index = Dictionary(uniqueKeysWithValues: loop.sockets.enumerated().map { ($0.element, $0.offset) })
            try await Self.warmUp(loop, requests: requests)
            let start = ContinuousClock.now
            let end = start + .milliseconds(Int(seconds * 1000))
            for client in 0..<clients {
                sentAt[client] = .now
                try await loop.send(requests[client], on: loop.sockets[client])
            }
            var outstanding = clients
            for try await delivery in loop.inbound {
                guard let client = index[delivery.socket] else { continue }
                let now = ContinuousClock.now
                latencies.append((now - sentAt[client]) / .milliseconds(1))
                pulls += 1
                if case .headReply(let reply)? = try? WireCodec.decode(delivery.frames.map(\.bytes)).message,
                    reply.status == .notModified
                {
                    notModified += 1
                }
                outstanding -= 1
                if now < end {
                    sentAt[client] = now
                    try await loop.send(requests[client], on: loop.sockets[client])
                    outstanding += 1
                } else if outstanding == 0 {
                    break
                }
            }
            let elapsed = (ContinuousClock.now - start) / .seconds(1)
            latencies.sort()
            return Result(
                registryExecutable: executable, clients: clients, users: hashes.count, freezePoint: freezePoint,
                headParameters: headParameters, seconds: elapsed, pulls: pulls, notModified: notModified,
                pullsPerSecond: Double(pulls) / elapsed, p50Ms: Self.percentile(latencies, 0.5),
                p90Ms: Self.percentile(latencies, 0.9), p99Ms: Self.percentile(latencies, 0.99),
                maxMs: latencies.last ?? 0)
        }
    }

    /// The open-loop phase: request `i` is due at `start + i / offeredRate` on client `i mod clients`; a
    /// sender thread sends each when it is due, and a reply's latency runs from its request's due time (the reply echoes the request id in `in_reply_to`, so the due time is recomputed from it).
    private func measureOpenLoop(endpoint: Endpoint, hashes: [String]) async throws -> OpenLoop {
        let context = try ZMQContext()
        defer { try? context.shutdown() }
        let total = max(1, Int(offeredRate * seconds))
        let interval = 1.0 / offeredRate
        let clients = self.clients
        let requests = headRequests(hashes)
        return try await withSocketLoop(context: context, sockets: clientSockets(endpoint), queueCapacity: 1 << 16) {
            loop in
            // Warm-up as in the closed loop, under request id 0, which no measured reply echoes.
            try await Self.warmUp(
                loop, requests: try requests.enumerated().map { try Self.frames($0.element, client: $0.offset, sequence: 0) })
            // Every request is encoded before the clock starts, and a thread of its own (not the cooperative
            // pool, where the receiver and the socket loop's hand-offs run) sends each at its due time with
            // an absolute-time sleep, so the measured latency is the registry's and not the sender's lateness.
            let encoded: [[Frame]] = try (0..<total).map { index in
                try Self.frames(requests[index % clients], client: index % clients, sequence: UInt64(index + 1))
            }
            let start = ContinuousClock.now + .milliseconds(5)
            @Sendable func due(_ index: Int) -> ContinuousClock.Instant { start + .seconds(Double(index) * interval) }
            let lateness = Mutex<[Double]>([])
            let sender = Task {
                await withCheckedContinuation { (finished: CheckedContinuation<Void, Never>) in
                    let thread = Thread {
                        var late: [Double] = []
                        late.reserveCapacity(total)
                        for index in 0..<total {
                            let wait = due(index) - ContinuousClock.now
                            if wait > .microseconds(20) {
                                let (whole, attoseconds) = wait.components
                                var request = timespec(tv_sec: Int(whole), tv_nsec: Int(attoseconds / 1_000_000_000))
                                _ = nanosleep(&request, nil)
                            }
                            let frames = encoded[index]
                            let socket = loop.sockets[index % clients]
                            // A full outbound queue is waited out here (it counts as lateness, not lost).
                            while (try? loop.trySend(frames, on: socket)) == false { sched_yield() }
                            late.append((ContinuousClock.now - due(index)) / .milliseconds(1))
                        }
                        lateness.withLock { $0 = late }
                        finished.resume()
                    }
                    thread.start()
                }
            }
            // The drain: replies still missing a second after the last request was due are unanswered; the
            // receiver is cancelled then (iterating the inbound stream ends on cancellation).
            let deadline = due(total) + .seconds(1)
            let receiver = Task { () throws -> (latencies: [Double], notModified: Int, lastReply: ContinuousClock.Instant) in
                var latencies: [Double] = []
                latencies.reserveCapacity(total)
                var notModified = 0
                var lastReply = start
                for try await delivery in loop.inbound {
                    let now = ContinuousClock.now
                    guard let decoded = try? WireCodec.decode(delivery.frames.map(\.bytes)),
                        decoded.metadata.inReplyTo >= 1, decoded.metadata.inReplyTo <= UInt64(total)
                    else { continue }
                    latencies.append((now - due(Int(decoded.metadata.inReplyTo) - 1)) / .milliseconds(1))
                    lastReply = now
                    if case .headReply(let reply) = decoded.message, reply.status == .notModified { notModified += 1 }
                    if latencies.count == total { break }
                }
                return (latencies, notModified, lastReply)
            }
            let watchdog = Task {
                try await Task.sleep(until: deadline, tolerance: .milliseconds(10))
                receiver.cancel()
            }
            await sender.value
            let received = try await receiver.value
            watchdog.cancel()
            let late = lateness.withLock { $0 }.sorted()
            let latencies = received.latencies.sorted()
            let answeredSeconds = max(1e-9, (received.lastReply - start) / .seconds(1))
            return OpenLoop(
                offeredPerSecond: offeredRate, answeredPerSecond: Double(latencies.count) / answeredSeconds,
                pulls: latencies.count, notModified: received.notModified, unanswered: total - latencies.count,
                senderLateP99Ms: late.isEmpty ? nil : Self.percentile(late, 0.99),
                p50Ms: Self.percentile(latencies, 0.5), p90Ms: Self.percentile(latencies, 0.9),
                p99Ms: Self.percentile(latencies, 0.99), maxMs: latencies.last ?? 0)
        }
    }
}
