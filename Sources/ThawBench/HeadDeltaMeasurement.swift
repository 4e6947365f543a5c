import Foundation
import ThawNN
import ThawNodes

/// Bytes per head swap, full head against ``HeadDelta``, on the heads a real run committed to a registry
/// database (`thaw bench head-delta`).
///
/// For each user, each head version `n ≥ 2` is compared with version `n − 1` (what a phone that took
/// every head holds) and with `n − 2` (a phone that declined or missed one): the `head_delta` frame's size
/// against the full head's `4 × P` bytes. Workers commit half-way heads (`base + α·(trained − base)`,
/// `head-interpolation` α, 0.5 by default); to see what that does to deltas, the trained head is
/// reconstructed as `base + (new − base) / α` in float32 (not bit-exact: one rounding per value, which
/// only adds low mantissa noise the trained head has anyway) and its delta from `n − 1` measured too.
package enum HeadDeltaMeasurement {
    package struct Pair: Codable, Sendable {
        package var user: String
        package var version: UInt64
        package var parameters: Int
        package var fullBytes: Int
        /// The delta from version − 1; nil: different stamps (a freeze move or a new model in between).
        package var deltaFromParentBytes: Int?
        package var deltaFromGrandparentBytes: Int?
        /// The delta from version − 1 to the reconstructed trained head (interpolation undone).
        package var deltaUninterpolatedBytes: Int?
        /// Parameters whose bits changed from version − 1.
        package var changedParameters: Int?
        package var milliseconds: Double
    }

    package struct Summary: Codable, Sendable {
        package var database: String
        package var interpolation: Float
        package var users: Int
        package var pairs: Int
        package var parameters: [Int]
        package var fullBytesTotal: Int
        package var deltaFromParentBytesTotal: Int
        package var deltaFromGrandparentBytesTotal: Int
        package var deltaUninterpolatedBytesTotal: Int
        /// Medians of delta / full over the pairs.
        package var medianParentRatio: Double
        package var medianGrandparentRatio: Double
        package var medianUninterpolatedRatio: Double
        package var medianEncodeMs: Double
        package var pairsDetail: [Pair]
    }

    package static func run(database: String, interpolation: Float, log: (String) -> Void) throws -> Summary {
        let store = try RegistryBackends.open(database)
        defer { try? store.close() }
        let audit = try store.audit()
        let users = audit.latestHeadVersions.keys.sorted()
        var pairs: [Pair] = []
        for user in users {
            let history = try store.headHistory(UserID(user))
            for (index, head) in history.enumerated() where index >= 1 {
                let parent = history[index - 1]
                var pair = Pair(
                    user: user, version: head.version, parameters: head.parameters.count,
                    fullBytes: 4 * head.parameters.count, milliseconds: 0)
                if compatible(parent, head) {
                    let clock = ContinuousClock()
                    let start = clock.now
                    pair.deltaFromParentBytes = try HeadDelta.encode(base: parent.parameters, target: head.parameters).count
                    let elapsed = (clock.now - start).components
                    pair.milliseconds = Double(elapsed.seconds) * 1000 + Double(elapsed.attoseconds) / 1e15
                    pair.changedParameters = zip(parent.parameters, head.parameters).reduce(0) {
                        $0 + ($1.0.bitPattern == $1.1.bitPattern ? 0 : 1)
                    }
                    let trained = zip(parent.parameters, head.parameters).map { base, new in
                        base + (new - base) / interpolation
                    }
                    if trained.allSatisfy(\.isFinite) {
                        pair.deltaUninterpolatedBytes = try HeadDelta.encode(base: parent.parameters, target: trained).count
                    }
                }
                if index >= 2, compatible(history[index - 2], head) {
                    pair.deltaFromGrandparentBytes =
                        try HeadDelta.encode(base: history[index - 2].parameters, target: head.parameters).count
                }
                pairs.append(pair)
            }
            log("\(user): \(history.count) heads")
        }
        func median(_ values: [Double]) -> Double {
            guard !values.isEmpty else { return .nan }
            let sorted = values.sorted()
            return sorted.count % 2 == 1
                ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        func ratio(_ key: KeyPath<Pair, Int?>) -> Double {
            median(pairs.compactMap { pair in pair[keyPath: key].map { Double($0) / Double(pair.fullBytes) } })
        }
        let measured = pairs.filter { $0.deltaFromParentBytes != nil }
        return Summary(
            database: database, interpolation: interpolation, users: users.count, pairs: pairs.count,
            parameters: Array(Set(pairs.map(\.parameters))).sorted(),
            fullBytesTotal: measured.reduce(0) { $0 + $1.fullBytes },
            deltaFromParentBytesTotal: measured.reduce(0) { $0 + ($1.deltaFromParentBytes ?? 0) },
            deltaFromGrandparentBytesTotal: pairs.reduce(0) { $0 + ($1.deltaFromGrandparentBytes ?? 0) },
            deltaUninterpolatedBytesTotal: measured.reduce(0) { $0 + ($1.deltaUninterpolatedBytes ?? 0) },
            medianParentRatio: ratio(\.deltaFromParentBytes), medianGrandparentRatio: ratio(\.deltaFromGrandparentBytes),
            medianUninterpolatedRatio: ratio(\.deltaUninterpolatedBytes),
            medianEncodeMs: median(measured.map(\.milliseconds)), pairsDetail: pairs)
    }

    private static func compatible(_ a: HeadRecord, _ b: HeadRecord) -> Bool {
        a.stamps.modelVersion == b.stamps.modelVersion && a.stamps.freezePoint == b.stamps.freezePoint
            && a.parameters.count == b.parameters.count
    }
}
