import ThawNN

/// Backbone passes the phones asked for, waiting to be computed in batches: one FIFO per (model
/// version, freeze point, checkpoint layers), since only requests that agree on all three can share a
/// forward pass.
///
/// Taking a batch costs what it takes, not the length of the queue: the fleet used to split one array
/// into "this batch" and "the rest" at every pass, and with 10,000 phones ahead of the compute queue
/// that copy (hundreds of thousands of requests, each retaining its layer list) was the fleet task's
/// largest unit and the process's largest CPU cost.
struct BackboneQueue {
    struct Key: Hashable {
        var modelVersion: ModelVersion
        var freezePoint: FreezePoint
        var checkpointsAt: [Int]
    }

    private struct Group {
        var requests: [BackboneRequest] = []
        /// Requests before `head` were taken.
        var head = 0
        /// Arrival number of each request (for oldest-first across groups).
        var arrivals: [UInt64] = []

        var count: Int { requests.count - head }
    }

    private var groups: [Key: Group] = [:]
    private var arrivals: UInt64 = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ request: BackboneRequest) {
        let key = Key(
            modelVersion: request.modelVersion, freezePoint: request.freezePoint, checkpointsAt: request.checkpointsAt)
        groups[key, default: Group()].requests.append(request)
        groups[key]?.arrivals.append(arrivals)
        arrivals += 1
        count += 1
    }

    /// The key of the group whose next request arrived first (nil: empty).
    var oldestKey: Key? {
        groups.filter { $0.value.count > 0 }.min { $0.value.arrivals[$0.value.head] < $1.value.arrivals[$1.value.head] }?.key
    }

    /// Takes up to `limit` requests of the oldest group, in arrival order.
    mutating func takeBatch(limit: Int) -> [BackboneRequest] {
        guard let key = oldestKey, var group = groups.removeValue(forKey: key) else { return [] }
        let end = min(group.requests.count, group.head + limit)
        let batch = Array(group.requests[group.head..<end])
        group.head = end
        count -= batch.count
        if group.count > 0 {
            // Drop the taken prefix once it is the larger part, so a long-lived group stays compact.
            if group.head >= 1024, group.head * 2 >= group.requests.count {
                group.requests.removeFirst(group.head)
                group.arrivals.removeFirst(group.head)
                group.head = 0
            }
            groups[key] = group
        }
        return batch
    }

    /// Drops every request whose key fails `keep` (a model this process no longer has).
    mutating func removeAll(where drop: (Key) -> Bool) {
        for key in groups.keys where drop(key) {
            count -= groups.removeValue(forKey: key)?.count ?? 0
        }
    }

    mutating func removeAll() {
        groups.removeAll()
        count = 0
    }
}
