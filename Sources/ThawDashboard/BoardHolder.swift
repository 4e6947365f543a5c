import Synchronization
import ThawNodes

/// The latest board a monitor handed over (``MonitorNode/Configuration/observer``), read by HTTP requests.
/// Thread rule: any task may read or replace it; one `Mutex` guards it.
package final class BoardHolder: Sendable {
    private let board = Mutex(MonitorBoard())

    package init() {}

    package func update(_ value: MonitorBoard) { board.withLock { $0 = value } }

    package var current: MonitorBoard { board.withLock { $0 } }
}
