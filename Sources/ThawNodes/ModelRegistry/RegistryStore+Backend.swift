import Foundation
import GRDB
import ThawNN

extension RegistryStore: RegistryBackend {
    public var location: String { path }

    public func applyWrites(_ writes: [RegistryWrite]) throws -> [RegistryWriteResult] {
        try groupWrite { db in
            var results: [RegistryWriteResult] = []
            results.reserveCapacity(writes.count)
            for write in writes {
                var result: RegistryWriteResult = .recorded
                do {
                    try db.inSavepoint {
                        result = try Self.apply(write, db: db)
                        return .commit
                    }
                } catch let error as RegistryError {
                    result = .refused("\(error)")
                } catch let error as DatabaseError where error.resultCode == .SQLITE_CONSTRAINT {
                    result = .refused("\(error)")
                }
                results.append(result)
            }
            return results
        }
    }

    static func apply(_ write: RegistryWrite, db: Database) throws -> RegistryWriteResult {
        switch write {
        case .storeBatch(let batch, let fingerprint):
            return .batch(try writeBatch(db, batch, fingerprint: fingerprint))
        case .commitHead(let commit, let consumed, let keepHeads):
            let (outcome, head) = try writeHead(db, commit, consumed: consumed)
            var pruned = 0
            if case .committed = outcome, let keepHeads {
                pruned = try pruneHeads(db, user: commit.user, keep: keepHeads + 1)
            }
            return .commit(outcome, head, pruned: pruned)
        case .recordConflict(let batch, let storedUser, let fingerprint, let detail):
            try recordConflict(db, batch: batch, storedUser: storedUser, fingerprint: fingerprint, detail: detail)
            return .recorded
        case .recordDeclined(let user, let device, let hash):
            try recordDeclined(db, user: user, device: device, hash: hash)
            return .recorded
        }
    }

    public func writerIdle() {
        _ = try? checkpoint()
    }
}
