import Foundation
import GRDB
import ThawNN

extension RegistryStore {
    /// Makes a device's batch durable exactly once: the `device_batches` row and every feature row are
    /// written in one transaction, and a `(device, sequence)` already present writes nothing.
    ///
    /// The check and the insert run under SQLite's write lock, so two workers storing the same resent
    /// batch at once store it once: one gets `.stored`, the other `.duplicate`.
    ///
    /// - Returns: `.stored(samples:)` or `.duplicate` (data, not an error: resends are expected).
    /// - Throws: ``RegistryError`` when the batch is invalid (nothing is written); GRDB's
    ///   `DatabaseError` on I/O failure (nothing is written either).
    public func storeBatch(_ batch: FeatureBatch) throws -> StoreOutcome {
        try batch.validate()
        let device = batch.device.rawValue
        let sequence = Int64(batch.sequence)
        let stamps = batch.stamps
        let outcome: StoreOutcome = try writeTransaction { db in
            let exists =
                try Bool.fetchOne(
                    db, sql: "SELECT EXISTS (SELECT 1 FROM device_batches WHERE device = ? AND seq = ?)",
                    arguments: [device, sequence]) ?? false
            if exists { return .duplicate }
            try db.execute(
                sql: """
                    INSERT INTO device_batches
                        (device, seq, user, model_version, freeze_point, hyper_hash, samples, stored_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    device, sequence, batch.user.rawValue, Int64(stamps.modelVersion.number),
                    stamps.freezePoint.index, stamps.hyperParameterHash, batch.samples.count, Date(),
                ])
            let insert = try db.makeStatement(
                sql: """
                    INSERT INTO features (user, device, device_seq, sample_id, label, model_version,
                        freeze_point, hyper_hash, activation, shape)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """)
            for sample in batch.samples {
                try insert.execute(arguments: [
                    batch.user.rawValue, device, sequence, Int64(sample.sampleID), sample.label,
                    Int64(stamps.modelVersion.number), stamps.freezePoint.index, stamps.hyperParameterHash,
                    FloatBlob.encode(sample.activations.scalars), FloatBlob.encodeShape(sample.activations.shape),
                ])
            }
            return .stored(samples: batch.samples.count)
        }
        count {
            switch outcome {
            case .stored(let samples):
                $0.batchesStored += 1
                $0.samplesStored += samples
            case .duplicate:
                $0.duplicates += 1
            }
        }
        return outcome
    }

    /// The sequence numbers of `device` that are durable, ascending. A device that lost its own state
    /// can resume from these; a gap means a batch that never arrived.
    public func durableSequences(device: DeviceID) throws -> [UInt64] {
        try read { db in
            try Int64.fetchAll(
                db, sql: "SELECT seq FROM device_batches WHERE device = ? ORDER BY seq", arguments: [device.rawValue]
            ).map { UInt64($0) }
        }
    }
}
