import ThawDeviceProfile
import ThawNN
import ThawNodes

/// How each system's wall time grows with the number of clients and, for Thaw, with the number of workers.
///
/// FedAvg: real rounds of ``FedAvgFleetSimulation`` with K simulated phones (phone i holds the data of
/// shipped user i mod U), C·K of them selected per round; the simulated round time, stragglers, radio
/// bytes and energy are reported, and the server's averaging time is measured on this machine.
/// Thaw: every user's head must be trained once on a worker, so personalising K users with W workers takes
/// K · t / W of worker time, t being the per-user training time measured by ``PersonalizationExperiment``
/// (perfect parallelism between workers is assumed: this machine has two cores).
public struct ScalingExperiment {
    public struct ClientRow: Sendable, Codable {
        public var clients: Int
        public var selectedPerRound: Int
        public var rounds: Int
        public var fedAvgSecondsPerRound: Double
        public var fedAvgStragglersPerRound: Double
        public var fedAvgRadioBytesPerRound: Double
        public var fedAvgJoulesPerRound: Double
        public var fedAvgServerSecondsPerRound: Double
        /// FedAvg rounds needed to reach the target in the personalisation experiment, times this round time.
        public var fedAvgSecondsToTarget: Double?
        public var thawSecondsOneWorker: Double
        public var thawSecondsAllWorkers: Double
        public var workers: Int
        public var thawRadioBytesPerUser: Double
    }

    public struct WorkerRow: Sendable, Codable {
        public var workers: Int
        public var users: Int
        public var thawSeconds: Double
        public var usersPerHour: Double
    }

    public var settings: FedAvgSettings
    public var profile: DeviceProfile
    public var speedSpread: Double
    public var dropoutProbability: Double

    public init(settings: FedAvgSettings, profile: DeviceProfile, speedSpread: Double, dropoutProbability: Double) {
        self.settings = settings
        self.profile = profile
        self.speedSpread = speedSpread
        self.dropoutProbability = dropoutProbability
    }

    /// - Parameters:
    ///   - users: the shipped users' data (activations at the freeze point, labels, seed).
    ///   - thawSecondsPerUser: measured worker seconds to train one user's head.
    ///   - thawDeviceSeconds: a Thaw phone's own time (backbone, upload, download), simulated.
    ///   - roundsToTarget: FedAvg rounds to the target accuracy, if it was reached.
    package func clientRows(
        counts: [Int], rounds: Int, base: Model, freezePoint: FreezePoint, users: [FedAvgFleetSimulation.ClientData],
        thawSecondsPerUser: Double, thawDeviceSeconds: Double, thawBytesPerUser: Double, workers: Int,
        roundsToTarget: Int?
    ) -> [ClientRow] {
        counts.map { count in
            var roundSettings = settings
            roundSettings.rounds = rounds
            let clients = (0..<count).map { index -> FedAvgFleetSimulation.ClientData in
                var data = users[index % users.count]
                data.seed = data.seed &* 1_000_003 &+ UInt64(index)
                return data
            }
            var fleet = FedAvgFleetSimulation(
                settings: roundSettings, initialWeights: base.headParameters(from: freezePoint), profile: profile,
                clients: clients, freezePoint: freezePoint, model: base.copy(), speedSpread: speedSpread,
                dropoutProbability: dropoutProbability)
            var durations: [Double] = []
            for _ in 0..<rounds { durations.append(fleet.runRound()) }
            let settled = fleet.settledMeters
            let joules = settled.reduce(0) { $0 + $1.ledger.total }
            let bytes = settled.reduce(0) { $0 + Double($1.ledger.bytesUp + $1.ledger.bytesDown) }
            // The mean, not the median: a round that waits for its deadline is part of FedAvg's cost.
            let perRound = durations.reduce(0, +) / Double(durations.count)
            return ClientRow(
                clients: count, selectedPerRound: settings.selectionSize(available: count), rounds: rounds,
                fedAvgSecondsPerRound: perRound, fedAvgStragglersPerRound: Double(fleet.stragglers) / Double(rounds),
                fedAvgRadioBytesPerRound: bytes / Double(rounds), fedAvgJoulesPerRound: joules / Double(rounds),
                fedAvgServerSecondsPerRound: fleet.aggregationSeconds / Double(rounds),
                fedAvgSecondsToTarget: roundsToTarget.map { Double($0) * perRound },
                thawSecondsOneWorker: thawDeviceSeconds + Double(count) * thawSecondsPerUser,
                thawSecondsAllWorkers: thawDeviceSeconds + Double(count) * thawSecondsPerUser / Double(workers),
                workers: workers, thawRadioBytesPerUser: thawBytesPerUser)
        }
    }

    package func workerRows(counts: [Int], users: Int, thawSecondsPerUser: Double, thawDeviceSeconds: Double) -> [WorkerRow] {
        counts.map { workers in
            let seconds = thawDeviceSeconds + Double(users) * thawSecondsPerUser / Double(workers)
            return WorkerRow(
                workers: workers, users: users, thawSeconds: seconds,
                usersPerHour: 3600 * Double(workers) / thawSecondsPerUser)
        }
    }
}
