#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import ThawData
import ThawNN

/// SQLite's own count of the bytes it holds (page caches of every connection; memory statistics are on
/// in Debian's build). GRDB links libsqlite3 but does not re-export its C module, and importing it would
/// need a new product dependency for this one counter: the symbol is declared here (no arguments, a
/// 64-bit integer result, which the C and Swift conventions pass alike).
@_silgen_name("sqlite3_memory_used")
private func sqlite3MemoryUsed() -> Int64

/// Sizes of Swift containers as the allocator sees them, for memory accounting (estimates: the
/// table's slots and its bitmap; not the allocator's rounding or headers).
enum MemoryFootprint {
    static func dictionary<Key, Value>(capacity: Int, key: Key.Type, value: Value.Type) -> Int {
        guard capacity > 0 else { return 0 }
        let buckets = Int(UInt(capacity * 4 / 3).nextPowerOfTwo)
        return 48 + buckets * (MemoryLayout<Key>.stride + MemoryLayout<Value>.stride) + buckets / 8
    }

    static func array<Element>(capacity: Int, of _: Element.Type) -> Int {
        capacity > 0 ? 32 + capacity * MemoryLayout<Element>.stride : 0
    }
}

extension UInt {
    fileprivate var nextPowerOfTwo: UInt { self <= 1 ? 1 : 1 << (UInt(UInt.bitWidth) - UInt((self - 1).leadingZeroBitCount)) }
}

/// Where a device process's memory goes, by category, in bytes (`fleet-memory` line on stdout).
///
/// The per-phone parts are walked a few hundred phones per slice (never one long unit of the fleet's
/// task), storage shared between activations (a checkpoint equal to its output, a prediction-cache entry
/// of a cached output, an entry in a snapshot waiting for its commit) is counted once, by address.
/// The process-wide figures are glibc's `mallinfo2` (bytes the heap holds in use and free) and the
/// resident set from /proc; what the heap holds beyond the counted parts is the sockets' buffers
/// (ZeroMQ), SQLite's caches, the Swift runtime and allocator slack.
package struct FleetMemoryLine: Codable, Sendable {
    package var event = "fleet-memory"
    package var phones: Int
    /// Bytes by category (see ``FleetMemoryTally``).
    package var bytes: [String: Int]
    /// Counts behind some categories (entries, distinct heads, …).
    package var counts: [String: Int]
    package var rssBytes: Int
    /// Heap in use (`uordblks + hblkhd`) and free inside the heap (`fordblks`), from mallinfo2.
    package var heapInUseBytes: Int
    package var heapFreeBytes: Int
    /// Heap in use minus every counted category.
    package var uncountedHeapBytes: Int
    /// The process's CPU seconds since it started, and those booked by kind of work (``FleetCPU``).
    package var cpuSeconds: Double
    package var cpuSecondsByKind: [String: Double]
}

/// The walk over the phones that builds a ``FleetMemoryLine`` (see ``DeviceFleet/tallyMemory()``).
struct FleetMemoryTally {
    var cursor = 0
    var bytes: [String: Int] = [:]
    var counts: [String: Int] = [:]
    /// Activation storage already counted (addresses).
    var seen: Set<UInt> = []

    mutating func activation(_ activation: Activation, as category: String) {
        bytes["activationShapes", default: 0] += MemoryFootprint.array(capacity: activation.shape.count, of: Int.self)
        guard activation.count > 0, seen.insert(activation.storageIdentity).inserted else {
            counts["\(category)Shared", default: 0] += 1
            return
        }
        counts[category, default: 0] += 1
        bytes[category, default: 0] += 32 + activation.storedByteCount
    }
}

extension DeviceFleet {
    /// How often a `fleet-memory` line is printed (and the allocator's free pages given back).
    static let memoryInterval: Duration = .seconds(15)
    /// Most phones walked per slice for it.
    static let memoryPhonesPerSlice = 500
    /// Most time the walk takes per slice: 500 phones took 10-25 ms at 10,000 phones under load, a unit a
    /// broadcast then waited for (docs/RELIABILITY.md, "Fourth pass").
    static let memoryWalkBudget: Duration = .milliseconds(1)

    /// Advances the memory walk by up to ``memoryPhonesPerSlice`` phones, for at most
    /// ``memoryWalkBudget`` and never past a waiting broadcast; prints the line when the walk is done.
    mutating func tallyMemory(now: ContinuousClock.Instant) {
        if memoryTally == nil {
            guard !phones.isEmpty, now - lastMemoryLine >= Self.memoryInterval else { return }
            memoryTally = FleetMemoryTally()
        }
        guard var tally = memoryTally else { return }
        let limit = min(phones.count, tally.cursor + Self.memoryPhonesPerSlice)
        var end = tally.cursor
        while end < limit {
            tallyPhone(end, into: &tally)
            end += 1
            // Checked every 16 phones: a clock read costs about what one phone's walk does.
            if end % 16 == 0, ContinuousClock.now - now >= Self.memoryWalkBudget || inbox.controlPending { break }
        }
        tally.cursor = end
        if end < phones.count {
            memoryTally = tally
            return
        }
        memoryTally = nil
        lastMemoryLine = now
        tallyShared(into: &tally)
        let (bytes, counts, phoneCount, cpu) = (tally.bytes, tally.counts, phones.count, self.cpu)
        // The heap's figures (malloc_info walks every arena's free lists; a `metrics` unit of 132 ms once
        // delayed a freeze move by 60 ms at 10,000 phones while it ran here), the line and
        // the trim run on the commit queue, never on the fleet's task.
        committer.submit(kind: "memory") {
            let heap = Self.heap()
            let counted = bytes.values.reduce(0, +)
            StdoutLine.write(
                FleetMemoryLine(
                    phones: phoneCount, bytes: bytes, counts: counts, rssBytes: Self.residentBytes(),
                    heapInUseBytes: heap.inUse, heapFreeBytes: heap.free, uncountedHeapBytes: heap.inUse - counted,
                    cpuSeconds: FleetCPU.processSeconds(), cpuSecondsByKind: cpu.byKind))
            // Free pages inside the arenas go back to the system.
            FleetAllocator.trim()
        }
    }

    private func tallyPhone(_ index: Int, into tally: inout FleetMemoryTally) {
        let phone = phones[index]
        let machine = phone.machine
        tally.bytes["phoneStructs", default: 0] += MemoryLayout<SimulatedPhone>.stride
        tally.bytes["cacheTables", default: 0] += machine.cache.tableBytes
        for entry in machine.cache.unorderedEntries {
            tally.activation(entry.activation, as: "cachedActivations")
            tally.counts["cacheEntries", default: 0] += 1
            if !entry.checkpoints.isEmpty {
                tally.bytes["checkpointTables", default: 0] += MemoryFootprint.dictionary(
                    capacity: entry.checkpoints.capacity, key: Int.self, value: Activation.self)
            }
            for checkpoint in entry.checkpoints.values { tally.activation(checkpoint, as: "checkpoints") }
        }
        tally.bytes["predictionTables", default: 0] += machine.predictions.tableBytes
        for output in machine.predictions.outputs { tally.activation(output, as: "predictionOutputs") }
        tally.bytes["labelIndex", default: 0] += MemoryFootprint.dictionary(
            capacity: machine.annotatedLabels.capacity, key: UInt64.self, value: Int.self)
        tally.bytes["pendingSamples", default: 0] += MemoryFootprint.dictionary(
            capacity: machine.pending.capacity, key: UInt64.self, value: DeviceStateMachine.PendingSample.self)
        tally.bytes["deferredActions", default: 0] += MemoryFootprint.array(
            capacity: phone.deferred.capacity, of: DeviceAction.self)
        if let snapshot = pendingWrites[index] {
            tally.bytes["snapshotsWaiting", default: 0] += MemoryFootprint.array(
                capacity: snapshot.entries.capacity, of: CachedActivation.self)
            for entry in snapshot.entries { tally.activation(entry.activation, as: "snapshotsWaiting") }
        }
    }

    private func tallyShared(into tally: inout FleetMemoryTally) {
        // Head parameters: every distinct array held by the fleet's maps, the phones and the checks.
        var heads: [UInt: Int] = [:]
        func note(_ parameters: [Float]?) {
            parameters?.withUnsafeBytes { if let base = $0.baseAddress { heads[UInt(bitPattern: base)] = $0.count } }
        }
        for head in self.heads.inMemory.values { note(head) }
        for seen in seenHeads.values { note(seen.scalars) }
        let usedByPhones = heads.count
        for (address, size) in headVerifications.held.withLock({ $0 }) { heads[address] = size }
        for (address, size) in recentTensors.heldStorage { heads[address] = size }
        let decoded = recentTensors.counts
        tally.counts["headRepliesCompared"] = decoded.offered
        tally.counts["headRepliesShared"] = decoded.reused
        tally.counts["groupCommits"] = commits
        tally.counts["snapshotsCommitted"] = committedSnapshots
        tally.counts["syncBacklog"] = syncBacklog.count
        tally.counts["pullBacklog"] = pullBacklog.count
        tally.bytes["heads", default: 0] += heads.values.reduce(0, +)
        tally.counts["distinctHeads"] = heads.count
        tally.counts["distinctHeadsOutsideChecks"] = usedByPhones
        tally.counts["headsOnDisk"] = self.heads.onDisk.count
        tally.bytes["evaluationInputs", default: 0] += evaluationInputs.heldBytes.withLock { $0 }
        tally.bytes["phonesArray", default: 0] += MemoryFootprint.array(capacity: phones.capacity, of: SimulatedPhone.self)
        let streams = Set(phones.map { $0.stream.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) } })
        tally.counts["distinctStreams"] = streams.count
        tally.bytes["streams", default: 0] += streams.count * 2 * MemoryFootprint.array(
            capacity: phones.first?.stream.count ?? 0, of: Int.self)
        tally.bytes["backboneQueue", default: 0] += backboneQueue.count * (MemoryLayout<BackboneRequest>.stride + 8)
        tally.counts["backboneQueue"] = backboneQueue.count
        for result in backboneResults {
            for output in result.outputs { tally.activation(output, as: "backboneResults") }
        }
        for (_, batch) in heldSends + releasedSends + (committing?.sends ?? []) {
            for entry in batch.entries { tally.activation(entry.activation, as: "sendsWaiting") }
        }
        tally.counts["snapshotsWaiting"] = pendingWrites.count
        tally.counts["inFlightRequests"] = inFlight.count
        tally.counts["computeQueue"] = compute.pending
        tally.counts["sendQueue"] = sender.pending
        let test = dataset.test
        tally.bytes["dataset", default: 0] += test.count * test.rows * test.columns
        if let model {
            // The fleet's model and the compute queue's copy.
            tally.bytes["models", default: 0] += 2 * model.parameters.count * MemoryLayout<Float>.size
        }
        tally.bytes["sqlitePageCache", default: 0] += Int(sqlite3MemoryUsed())
    }

    /// The heap's bytes in use and free, summed over glibc's arenas, from `malloc_info`'s totals
    /// (`<total type="fast|rest">` is free, `<system type="current">` what the arenas took from the
    /// system, `<total type="mmap">` the chunks mapped on their own). `malloc.h` is not in Swift's Glibc
    /// module, so the function is looked up by name.
    static func heap() -> (inUse: Int, free: Int) {
        #if canImport(Glibc)
        typealias MallocInfo = @convention(c) (Int32, UnsafeMutablePointer<FILE>?) -> Int32
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "malloc_info") else { return (0, 0) }
        let mallocInfo = unsafeBitCast(symbol, to: MallocInfo.self)
        var buffer: UnsafeMutablePointer<CChar>?
        var size = 0
        guard let stream = open_memstream(&buffer, &size) else { return (0, 0) }
        _ = mallocInfo(0, stream)
        fclose(stream)
        guard let buffer else { return (0, 0) }
        defer { free(buffer) }
        let xml = String(cString: buffer)
        // The totals follow the last arena's closing tag.
        guard let tail = xml.range(of: "</heap>", options: .backwards).map({ xml[$0.upperBound...] }) else { return (0, 0) }
        func value(_ tag: String) -> Int {
            guard let start = tail.range(of: tag), let sizeStart = tail[start.upperBound...].range(of: "size=\"")
            else { return 0 }
            let digits = tail[sizeStart.upperBound...].prefix { $0.isNumber }
            return Int(digits) ?? 0
        }
        let free = value("<total type=\"fast\"") + value("<total type=\"rest\"")
        let system = value("<system type=\"current\"")
        let mapped = value("<total type=\"mmap\"")
        return (system - free + mapped, free)
        #else
        return (0, 0)
        #endif
    }

    /// The process's resident set (VmRSS), in bytes.
    static func residentBytes() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") })
        else { return 0 }
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }
}

/// glibc's allocator settings for a device process (``DeviceFleetNode``).
///
/// The process allocates and frees many large buffers on several threads: 6.4 MB head replies and
/// parameter copies at freeze point 7 of the FedAvg CNN, tens of MB of im2col buffers per batched pass,
/// snapshots and batches of hundreds of KB. By default glibc raises its mmap threshold to the size of the
/// largest buffer freed (up to 32 MiB), after which those buffers come from the per-thread arenas, whose
/// free space is not given back: at 10,000 phones 1.2 GiB of the 2.3 GiB resident were free heap
/// (`fleet-memory`, `heapFreeBytes`). A fixed threshold of 1 MiB keeps every buffer that large in a
/// mapping of its own, returned to the system when freed, and a periodic `malloc_trim` gives back the
/// free pages inside the arenas. `malloc.h` is not in Swift's Glibc module: the functions are looked
/// up by name.
enum FleetAllocator {
    /// Buffers this large or larger are mapped on their own.
    static let mmapThreshold: Int32 = 1 << 20

    /// Sets the fixed mmap threshold (and with it glibc's trim threshold stops adapting). Returns
    /// whether glibc took it.
    @discardableResult
    static func configure() -> Bool { ProcessAllocator.setMmapThreshold(Int(mmapThreshold)) }

    /// Gives the free pages of every arena back to the system.
    static func trim() { ProcessAllocator.trim() }
}
