import Foundation

/// One phone's account as read back from its persisted state, after its device process has exited
/// (gracefully or killed): what `thaw up`'s report states about batches, whatever happened at the end.
///
/// Only what the phone keeps durably is here: samples it annotated, batch sequence numbers it used,
/// which of them the registry acknowledged, and what is still waiting. Accuracy, heads and energy
/// live only in the process and come from its final `device-report` line when it printed one.
package struct PersistedPhoneReport: Codable, Sendable, Equatable {
    package var device: String
    /// Annotated samples the phone keeps labels for.
    package var annotated: Int
    /// Batch sequence numbers the phone has used (each batch it formed, sent at least once).
    package var batchesSent: Int
    /// Batches among those whose entries the registry acknowledged as durable (and the phone still caches).
    package var batchesAcknowledged: Int
    /// Batches sent and not yet acknowledged: the outbox, re-sent under the same numbers after a restart.
    package var batchesUnacknowledged: Int
    /// Annotated samples not yet in any batch.
    package var samplesPending: Int
    package var cacheEntries: Int
    /// The deployment epoch the phone last applied (0 before it saw one).
    package var deploymentEpoch: UInt64
    /// Why no state could be read (no file yet, or a file that does not decode); nil when it was read.
    package var problem: String?
}

extension DeviceFleetNode {
    /// The persisted accounts of the `phones` phones of device node `node`, whose state lives under
    /// `stateDirectory` (the node's own folder, `<state-dir>/<node>`), in phone order. Reads the node's
    /// fleet store (`fleet.sqlite`), or the per-phone `<node>-<n>.cache` files of older runs when there is
    /// none; safe while no process writes them (call it after the device process has exited).
    package static func persistedReports(stateDirectory: String, node: String, phones: Int) -> [PersistedPhoneReport] {
        let devices = (0..<max(phones, 0)).map { "\(node)-\($0)" }
        let storePath = DeviceFleetStore.path(stateDirectory: stateDirectory)
        if FileManager.default.fileExists(atPath: storePath) {
            // One snapshot decoded at a time, reduced to its counts at once.
            var stored: [String: PersistedPhoneReport] = [:]
            do {
                let store = try DeviceFleetStore(path: storePath)
                defer { try? store.close() }
                try store.forEachSnapshot { device, result in
                    switch result {
                    case .success(let snapshot): stored[device] = PersistedPhoneReport(device: device, snapshot: snapshot, problem: nil)
                    case .failure(let error): stored[device] = PersistedPhoneReport(device: device, snapshot: nil, problem: "\(error)")
                    }
                }
            } catch {
                return devices.map { PersistedPhoneReport(device: $0, snapshot: nil, problem: "\(error)") }
            }
            return devices.map { device in
                stored[device]
                    ?? PersistedPhoneReport(device: device, snapshot: nil, problem: "no state for \(device) in \(storePath)")
            }
        }
        return devices.map { device in
            let store = DeviceCacheStore(path: "\(stateDirectory)/\(device).cache")
            do {
                let snapshot = try store.load()
                return PersistedPhoneReport(
                    device: device, snapshot: snapshot, problem: snapshot == nil ? "no state file at \(store.path)" : nil)
            } catch {
                return PersistedPhoneReport(device: device, snapshot: nil, problem: "\(error)")
            }
        }
    }

    /// What the device state under `stateDirectory` says about each phone, for a run report after the
    /// device process is gone: one ``PhoneReport`` per stored phone, with what a snapshot holds (device,
    /// annotated samples, cached entries); counters that only the running process knew are zero.
    ///
    /// `stateDirectory` is a device node's own directory (holding `fleet.sqlite`) or the run's state
    /// directory (every `*/fleet.sqlite` below it is read).
    /// - Throws: a database error when a store exists but cannot be opened.
    package static func persistedReports(stateDirectory: String) throws -> [PhoneReport] {
        let files = FileManager.default
        var paths: [String] = []
        let own = DeviceFleetStore.path(stateDirectory: stateDirectory)
        if files.fileExists(atPath: own) {
            paths = [own]
        } else {
            for child in (try? files.contentsOfDirectory(atPath: stateDirectory))?.sorted() ?? [] {
                let path = DeviceFleetStore.path(stateDirectory: "\(stateDirectory)/\(child)")
                if files.fileExists(atPath: path) { paths.append(path) }
            }
        }
        var reports: [PhoneReport] = []
        for path in paths {
            let store = try DeviceFleetStore(path: path)
            defer { try? store.close() }
            var found: [PhoneReport] = []
            try store.forEachSnapshot { device, result in
                guard case .success(let snapshot) = result else { return }
                found.append(
                    PhoneReport(
                        device: device, user: "", samples: 0, annotated: snapshot.annotatedLabels.count,
                        accuracyBefore: 0, accuracyAfter: 0, headVersion: 0, headsSwapped: 0, headsRejected: 0,
                        batchesSent: Int(snapshot.nextSequence) - 1, batchRetries: 0, bytesSent: 0, bytesReceived: 0,
                        energyJoules: [:], ledger: [:], batteryPercent: 0, cacheEntries: snapshot.entries.count,
                        predictionHitRate: 0))
            }
            reports += found.sorted { $0.device < $1.device }
        }
        return reports
    }
}

extension PersistedPhoneReport {
    init(device: String, snapshot: DeviceSnapshot?, problem: String?) {
        var durable = Set<UInt64>()
        var inFlight = Set<UInt64>()
        var pending = 0
        for entry in snapshot?.entries ?? [] where entry.annotated {
            switch entry.upload {
            case .pending: pending += 1
            case .inFlight(let seq): inFlight.insert(seq)
            case .durable(let seq): durable.insert(seq)
            }
        }
        self.init(
            device: device, annotated: snapshot?.annotatedLabels.count ?? 0,
            batchesSent: Int(max(snapshot?.nextSequence ?? 1, 1) - 1), batchesAcknowledged: durable.count,
            batchesUnacknowledged: inFlight.count, samplesPending: pending, cacheEntries: snapshot?.entries.count ?? 0,
            deploymentEpoch: snapshot?.deployment?.epoch ?? 0, problem: problem)
    }
}
