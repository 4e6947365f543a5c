import Foundation

extension DeviceFleetNode {
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
            for (device, result) in try store.loadAll().sorted(by: { $0.key < $1.key }) {
                guard case .success(let snapshot) = result else { continue }
                reports.append(
                    PhoneReport(
                        device: device, user: "", samples: 0, annotated: snapshot.annotatedLabels.count,
                        accuracyBefore: 0, accuracyAfter: 0, headVersion: 0, headsSwapped: 0,
                        batchesSent: Int(snapshot.nextSequence) - 1, batchRetries: 0, bytesSent: 0, bytesReceived: 0,
                        energyJoules: [:], ledger: [:], batteryPercent: 0, cacheEntries: snapshot.entries.count,
                        predictionHitRate: 0))
            }
        }
        return reports
    }
}
