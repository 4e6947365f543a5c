import ThawNN

/// One simulated phone inside a device process: its user's sample stream, its held-out evaluation
/// set, its state machine, and the head it currently predicts with.
struct SimulatedPhone {
    let device: DeviceID
    let user: UserID
    /// Sample ids (indices into the test images) in the order the user produces them.
    let stream: [Int]
    /// The user's held-out samples; never uploaded, only used to measure accuracy.
    let evaluation: [Int]
    var machine: DeviceStateMachine
    var cursor = 0
    /// The hash of the head in use (its parameters are in the fleet's ``HeadStore``), or nil while the
    /// base model's own head is used.
    var headHash: String?
    var baseAccuracy: Double?
    /// The base accuracy was asked of the compute queue (it is set when the answer comes back).
    var baseRequested = false
    /// Held-out evaluations and rebuilds of this phone still on the compute queue.
    var evaluationsPending = 0
    var rebuildsPending = 0
    var headChecksPending = 0
    var accuracy: Double?
    var bytesSent = 0
    var bytesReceived = 0
    var predictions = 0
    var headPulls = 0
    /// `BatchRejected`s collected from the registry.
    var rejectionsReceived = 0
    /// `FreezeSyncRequest`s answered by the registry.
    var syncRequests = 0
    /// Successful head pulls since the phone last had anything unacknowledged; two in a row mean the
    /// registry's newest head already covers everything the phone uploaded.
    var settledPulls = 0
    /// Work a broadcast left for this phone (a rebuild after a freeze move), done in its next slice.
    var deferred: [DeviceAction] = []
    /// Something changed since the phone's state was last persisted.
    var dirty = false
    /// The fleet's deployment changed and this phone's machine has not observed it yet.
    var behind = false
    /// When the phone's next tick is due (nil before its first).
    var nextTick: ContinuousClock.Instant?

    var streamFinished: Bool { cursor >= stream.count }
}

/// What a device process reports at the end of a run, one per phone (a JSON line on stdout).
package struct PhoneReport: Codable, Sendable {
    package var event = "device-report"
    package var device: String
    package var user: String
    var samples: Int
    package var annotated: Int
    package var accuracyBefore: Double
    package var accuracyAfter: Double
    var headVersion: UInt64
    package var headsSwapped: Int
    /// Pulled heads the phone's ``HeadSwapGate`` declined.
    package var headsRejected: Int
    package var batchesSent: Int
    package var batchRetries: Int
    package var bytesSent: Int
    var bytesReceived: Int
    package var energyJoules: [String: Double]
    /// The energy ledger as flat metrics: joules and device seconds per category, FLOPs, radio bytes.
    var ledger: [String: Double]
    var batteryPercent: Double
    var cacheEntries: Int
    var predictionHitRate: Double
}
