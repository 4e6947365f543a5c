import ThawNN

/// Seeded choice of a round's clients: the same seed, round and client list give the same selection.
public enum ClientSelection {
    /// `count` distinct clients out of `clients` (which the caller passes in a fixed order).
    public static func choose(_ count: Int, from clients: [FedAvgClientID], seed: UInt64, round: Int)
        -> [FedAvgClientID]
    {
        var generator = SeededGenerator.derived(seed: seed, stream: UInt64(round))
        var pool = clients
        pool.shuffle(using: &generator)
        return Array(pool.prefix(count)).sorted()
    }
}
