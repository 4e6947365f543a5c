/// Which worker a user's batches go to: every sender ranks the workers for a user the same way
/// (rendezvous hashing over the worker endpoints), sends to the first and moves down the list only when a
/// batch went unanswered.
///
/// Why: a user's rounds are cheapest on the worker that already holds the user's head and rows (no head
/// request, a fetch of the new rows only, no compare-and-set conflicts with another worker training the
/// same user). Round-robin spreads every user over every worker, so each worker refetches what the other
/// committed. Rendezvous hashing moves only the users of a worker that joins or leaves, and needs no
/// coordination: any sender computes the same order from the user id and the endpoint strings.
///
/// The rank of worker `w` for user `u` is FNV-1a 64 over the UTF-8 bytes of `u`, one 0x00 byte, and the
/// UTF-8 bytes of `w`'s endpoint, then the SplitMix64 finaliser (FNV alone ranks endpoints that differ
/// only in their last character nearly alike, which piles users onto one worker); the highest rank comes
/// first, ties broken by endpoint order.
public struct WorkerAffinity: Sendable {
    public let endpoints: [String]

    public init(endpoints: [String]) {
        self.endpoints = endpoints
    }

    /// Indices into ``endpoints``, the user's preferred worker first.
    public func order(for user: String) -> [Int] {
        let ranks = endpoints.map { Self.rank(user: user, endpoint: $0) }
        return endpoints.indices.sorted { ranks[$0] != ranks[$1] ? ranks[$0] > ranks[$1] : $0 < $1 }
    }

    /// The worker for `user` after `misses` unanswered sends: the `misses`-th in the user's order, wrapping.
    public func worker(for user: String, misses: Int = 0) -> Int {
        precondition(!endpoints.isEmpty, "no workers to route to")
        let order = order(for: user)
        return order[max(misses, 0) % order.count]
    }

    static func rank(user: String, endpoint: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        for byte in user.utf8 { mix(byte) }
        mix(0)
        for byte in endpoint.utf8 { mix(byte) }
        hash = (hash ^ (hash >> 30)) &* 0xbf58_476d_1ce4_e5b9
        hash = (hash ^ (hash >> 27)) &* 0x94d0_49bb_1331_11eb
        return hash ^ (hash >> 31)
    }
}
