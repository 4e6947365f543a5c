import ThawDeviceProfile
extension DeviceStateMachine {
    /// Time passed: account idle drain and charging, pull the head when due, re-send unacknowledged
    /// batches whose delay expired, and flush pending activations if the flush policy allows.
    public mutating func tick(now: Timestamp) -> [DeviceAction] {
        if let lastTick {
            let elapsed = now.duration(since: lastTick)
            battery.charge(over: elapsed)
            spend(configuration.profile.idleWatts * elapsed.secondsValue, seconds: elapsed.secondsValue, as: .idle)
        }
        lastTick = now
        let tail = radio.settle(at: now.secondsSinceZero)
        book(tail)
        guard deployment != nil else { return [] }

        var actions: [DeviceAction] = []
        if lastHeadRequest.map({ now.duration(since: $0) >= configuration.headPullInterval }) ?? true {
            lastHeadRequest = now
            actions.append(.requestHead(haveHash: head?.hash))
        }
        for batch in outbox.takeDueRetries(now: now) {
            guard let feature = featureBatch(for: batch) else {
                outbox.remove(batch.seq)
                continue
            }
            statistics.batchRetries += 1
            actions += send(feature)
        }
        return actions + flushIfAllowed(now: now)
    }

    /// The registry stored these batches durably; duplicates and unknown sequences are ignored.
    public mutating func batchesDurable(seqs: [UInt64]) -> [DeviceAction] {
        let acknowledged = outbox.acknowledge(seqs)
        guard !acknowledged.isEmpty else { return [] }
        for batch in acknowledged {
            for id in batch.sampleIds where cache[id]?.upload == .inFlight(seq: batch.seq) {
                cache.setUpload(.durable(seq: batch.seq), for: [id])
            }
        }
        return [.persistCache(snapshot)]
    }

    /// Annotated entries at the current stamps that no batch carries yet, oldest first (the gate's
    /// validation share is never uploaded).
    public var pendingUploads: [CachedActivation] {
        guard let stamp = currentStamp else { return [] }
        return cache.allEntries
            .filter { isPendingUpload($0, stamp: stamp) }
            .sorted { ($0.createdAt, $0.sampleId) < ($1.createdAt, $1.sampleId) }
    }

    private func isPendingUpload(_ entry: CachedActivation, stamp: ActivationStamp) -> Bool {
        entry.annotated && entry.upload == .pending && entry.stamp == stamp && !isValidationSample(entry.sampleId)
    }

    /// What the flush policy says right now.
    ///
    /// Asked at every tick, so it counts the pending entries and finds the oldest in one pass instead
    /// of building the sorted ``pendingUploads`` (same answer; that copy was a large share of a
    /// 10,000-phone process's CPU).
    public func flushDecision(now: Timestamp) -> FlushPolicy.Decision {
        var pending = 0
        var oldest: Timestamp?
        if let stamp = currentStamp {
            for entry in cache.unorderedEntries where isPendingUpload(entry, stamp: stamp) {
                pending += 1
                if oldest.map({ entry.createdAt < $0 }) ?? true { oldest = entry.createdAt }
            }
        }
        return configuration.flush.decide(
            batteryPercent: battery.percent, charging: battery.isCharging, pending: pending,
            oldestPendingAge: oldest.map { now.duration(since: $0) } ?? .zero,
            outboxFull: outbox.isFull, cacheOverCapacity: cache.isOverCapacity)
    }

    private mutating func flushIfAllowed(now: Timestamp) -> [DeviceAction] {
        var batches: [DeviceBatch] = []
        while flushDecision(now: now) == .flush, let stamp = currentStamp {
            let chosen = Array(pendingUploads.prefix(configuration.maximumBatchSize))
            let seq = outbox.enqueue(sampleIds: chosen.map(\.sampleId), stamp: stamp, now: now)
            cache.setUpload(.inFlight(seq: seq), for: chosen.map(\.sampleId))
            batches.append(
                DeviceBatch(
                    seq: seq, stamp: stamp,
                    entries: chosen.map { .init(sampleId: $0.sampleId, label: $0.label, activation: $0.activation) },
                    attempt: 1))
        }
        guard !batches.isEmpty else { return [] }
        statistics.batchesSent += batches.count
        // Persist first: the snapshot holds the advanced sequence number, so a crash after the send
        // cannot make the restarted device reuse it.
        return [.persistCache(snapshot)] + batches.flatMap { send($0) }
    }

    /// Rebuilds a retry's content from the cache (entries stay cached until acked).
    private func featureBatch(for batch: Outbox.Batch) -> DeviceBatch? {
        var entries: [DeviceBatch.Entry] = []
        for id in batch.sampleIds {
            guard let entry = cache[id], entry.stamp == batch.stamp else { return nil }
            entries.append(.init(sampleId: id, label: entry.label, activation: entry.activation))
        }
        return DeviceBatch(seq: batch.seq, stamp: batch.stamp, entries: entries, attempt: batch.attempts)
    }

    /// Radio energy is booked by the glue through ``transferred(bytesUp:bytesDown:now:)`` with the bytes it
    /// actually put on the wire.
    private mutating func send(_ batch: DeviceBatch) -> [DeviceAction] {
        [.sendBatch(batch)]
    }
}
