/// The phones of a fleet ordered by when each is next due (a binary min-heap of `(due, phone)`).
///
/// A phone may appear more than once (a control event made it due early); the fleet checks, when it
/// pops an entry, whether the phone still has anything to do, so stale entries cost one comparison.
struct PhoneQueue {
    struct Entry {
        var due: ContinuousClock.Instant
        var phone: Int
    }

    private(set) var entries: [Entry] = []

    var count: Int { entries.count }
    var nextDue: ContinuousClock.Instant? { entries.first?.due }

    mutating func push(_ phone: Int, due: ContinuousClock.Instant) {
        entries.append(Entry(due: due, phone: phone))
        var child = entries.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].due < entries[parent].due else { break }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    /// The earliest entry if it is due at `now`.
    mutating func popDue(now: ContinuousClock.Instant) -> Entry? {
        guard let first = entries.first, first.due <= now else { return nil }
        let last = entries.removeLast()
        guard !entries.isEmpty else { return first }
        entries[0] = last
        var parent = 0
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < entries.count, entries[left].due < entries[smallest].due { smallest = left }
            if right < entries.count, entries[right].due < entries[smallest].due { smallest = right }
            guard smallest != parent else { break }
            entries.swapAt(parent, smallest)
            parent = smallest
        }
        return first
    }

    mutating func removeAll() { entries.removeAll() }
}
