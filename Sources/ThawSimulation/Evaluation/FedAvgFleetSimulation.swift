import Foundation
import ThawDeviceProfile
import ThawNN
import ThawNodes

/// FedAvg rounds over a fleet of simulated phones on a simulated clock, in one process.
///
/// The server is the real ``FedAvgServerStateMachine`` and every local update really runs
/// (``FedAvgLocalUpdate``); each phone's time and energy come from its ``DeviceMeter``. Phones are not
/// identical: each one's CPU speed is the profile's times exp(σ·N(0,1)), so slow phones miss the round
/// deadline and their late updates are refused. A selected phone drops out after the download with the
/// given probability. Updates arrive in order of their simulated finish time.
package struct FedAvgFleetSimulation {
    /// One phone's data: its activations at the freeze point, labels and a seed for its shuffles.
    package struct ClientData {
        var inputs: Tensor
        var labels: [Int]
        var seed: UInt64

        package init(inputs: Tensor, labels: [Int], seed: UInt64) {
            self.inputs = inputs
            self.labels = labels
            self.seed = seed
        }
    }

    var server: FedAvgServerStateMachine
    var meters: [DeviceMeter]
    let clients: [ClientData]
    let freezePoint: FreezePoint
    let headBytes: Int
    let update: FedAvgLocalUpdate
    let model: Model
    let dropoutProbability: Double
    var generator: SeededGenerator
    var now = 0.0
    var stragglers = 0
    var dropouts = 0
    var refused = 0
    /// Wall time this machine spent in the server's update/close calls (averaging included).
    var aggregationSeconds = 0.0

    init(
        settings: FedAvgSettings, initialWeights: [Float], profile: DeviceProfile, clients: [ClientData],
        freezePoint: FreezePoint, model: Model, speedSpread: Double, dropoutProbability: Double
    ) {
        var server = FedAvgServerStateMachine(settings: settings, initialWeights: initialWeights)
        var generator = SeededGenerator.derived(seed: settings.seed, stream: 0xFEDA)
        var meters: [DeviceMeter] = []
        meters.reserveCapacity(clients.count)
        for (index, client) in clients.enumerated() {
            server.clientJoined("u\(index)", samples: client.labels.count)
            var phone = profile
            let speed = exp(speedSpread * Double(generator.nextGaussian()))
            phone.compute = ComputeProfile(
                name: profile.compute.name, flopsPerSecond: profile.compute.flopsPerSecond * speed,
                activeWatts: profile.compute.activeWatts * speed)
            meters.append(DeviceMeter(profile: phone))
        }
        self.server = server
        self.meters = meters
        self.clients = clients
        self.freezePoint = freezePoint
        self.headBytes = WireSizes.headReply(parameters: initialWeights.count)
        self.update = FedAvgLocalUpdate(settings: settings)
        self.model = model
        self.dropoutProbability = dropoutProbability
        self.generator = generator
    }

    /// Runs one round from `now`; returns its simulated duration (0 when no round could start).
    @discardableResult
    mutating func runRound() -> Double {
        let roundStart = now
        let clock = ContinuousClock()
        var arrivals: [(time: Double, client: String, round: Int, outcome: FedAvgLocalUpdate.Outcome)] = []
        let sends = server.startRound(now: Self.at(now))
        guard !sends.isEmpty else { return 0 }
        for case .sendModel(let client, let round, let weights) in sends {
            let index = Int(client.dropFirst())!
            meters[index].wait(until: roundStart)
            meters[index].transfer(bytesUp: 0, bytesDown: headBytes)
            if generator.nextUnitDouble() < dropoutProbability {
                dropouts += 1
                continue
            }
            let data = clients[index]
            let outcome = update.run(
                model: model, freezePoint: freezePoint, globalWeights: weights, inputs: data.inputs,
                labels: data.labels, clientSeed: data.seed, round: round)
            meters[index].compute(outcome.flops)
            meters[index].transfer(bytesUp: headBytes, bytesDown: 0)
            arrivals.append((meters[index].clock, client, round, outcome))
        }
        arrivals.sort { $0.time < $1.time }
        let deadline = roundStart + server.settings.roundDeadline.secondsValue
        var closedAt: Double?
        for arrival in arrivals {
            if closedAt == nil, arrival.time > deadline {
                let start = clock.now
                _ = server.tick(now: Self.at(deadline))
                aggregationSeconds += (clock.now - start) / .seconds(1)
                closedAt = deadline
            }
            let start = clock.now
            let result = server.updateReceived(
                from: arrival.client, round: arrival.round, weights: arrival.outcome.weights,
                samples: arrival.outcome.samples, now: Self.at(arrival.time))
            aggregationSeconds += (clock.now - start) / .seconds(1)
            switch result {
            case .success(let actions): if !actions.isEmpty, closedAt == nil { closedAt = arrival.time }
            case .failure:
                refused += 1
                stragglers += 1
            }
        }
        if closedAt == nil {
            _ = server.tick(now: Self.at(deadline))
            closedAt = deadline
        }
        now = closedAt ?? deadline
        return now - roundStart
    }

    /// Every phone's ledger with the radio tails charged to the end.
    var settledMeters: [DeviceMeter] {
        var settled = meters
        for index in settled.indices { settled[index].finish() }
        return settled
    }

    static func at(_ seconds: Double) -> Timestamp { Timestamp(milliseconds: UInt64(max(0, seconds) * 1000)) }
}
