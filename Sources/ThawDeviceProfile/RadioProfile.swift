/// A phone radio's throughput, latency and power model after Huang et al., "A Close Examination of Performance
/// and Power Characteristics of 4G LTE Networks", MobiSys 2012 (cited below as [Huang12]).
///
/// Power while transferring is linear in throughput ([Huang12] §5, Table 3):
/// `P = β + αu·tu + αd·td` with `tu`, `td` in Mbit/s. Before a transfer from idle the radio spends a
/// promotion (`promotionSeconds` at `promotionWatts`); after the last byte it stays in a high-power tail
/// (`tailSeconds` at `tailWatts`) unless another transfer starts first ([Huang12] §4, Table 4).
public struct RadioProfile: Sendable, Hashable, Codable {
    public var name: String
    /// Uplink and downlink application throughput, bit/s.
    public var uplinkBitsPerSecond: Double
    public var downlinkBitsPerSecond: Double
    /// One round trip added to every transfer (request/response), seconds.
    public var roundTripSeconds: Double
    /// β: base power while transferring, watts.
    public var baseWatts: Double
    /// αu, αd: extra watts per Mbit/s of uplink and downlink throughput.
    public var uplinkWattsPerMbps: Double
    public var downlinkWattsPerMbps: Double
    public var promotionSeconds: Double
    public var promotionWatts: Double
    public var tailSeconds: Double
    public var tailWatts: Double

    public init(
        name: String, uplinkBitsPerSecond: Double, downlinkBitsPerSecond: Double, roundTripSeconds: Double,
        baseWatts: Double, uplinkWattsPerMbps: Double, downlinkWattsPerMbps: Double, promotionSeconds: Double,
        promotionWatts: Double, tailSeconds: Double, tailWatts: Double
    ) {
        precondition(uplinkBitsPerSecond > 0 && downlinkBitsPerSecond > 0, "a radio needs positive bandwidth")
        self.name = name
        self.uplinkBitsPerSecond = uplinkBitsPerSecond
        self.downlinkBitsPerSecond = downlinkBitsPerSecond
        self.roundTripSeconds = roundTripSeconds
        self.baseWatts = baseWatts
        self.uplinkWattsPerMbps = uplinkWattsPerMbps
        self.downlinkWattsPerMbps = downlinkWattsPerMbps
        self.promotionSeconds = promotionSeconds
        self.promotionWatts = promotionWatts
        self.tailSeconds = tailSeconds
        self.tailWatts = tailWatts
    }

    /// Seconds on the air to move `bytesUp` then `bytesDown`, one round trip included.
    public func transferSeconds(bytesUp: Int, bytesDown: Int) -> Double {
        roundTripSeconds + Double(bytesUp) * 8 / uplinkBitsPerSecond + Double(bytesDown) * 8 / downlinkBitsPerSecond
    }

    /// Joules of the transfer itself (no promotion, no tail): each direction at full throughput for its
    /// duration, at `β + α·throughput`; the round trip at `β`.
    public func transferJoules(bytesUp: Int, bytesDown: Int) -> Double {
        let up = Double(bytesUp) * 8 / uplinkBitsPerSecond
        let down = Double(bytesDown) * 8 / downlinkBitsPerSecond
        return roundTripSeconds * baseWatts
            + up * (baseWatts + uplinkWattsPerMbps * uplinkBitsPerSecond / 1e6)
            + down * (baseWatts + downlinkWattsPerMbps * downlinkBitsPerSecond / 1e6)
    }

    /// LTE, [Huang12]. Power model (Table 3): αu = 438.39 mW/Mbps, αd = 51.97 mW/Mbps, β = 1288.04 mW.
    /// RRC (Table 4): promotion 260.1 ms at 1210.7 mW, tail 11576 ms at 1060.0 mW. Throughput: the medians
    /// of the 4GTest users, 13 Mbit/s down and 6 Mbit/s up (abstract). Round trip: 70 ms, the median LTE RTT
    /// of §3 (rounded). The same αu, αd, promotion and tail powers are the defaults of AT&T's ARO profiler
    /// (ProfileLTE: 438.39, 51.97, 1.21 W, 1.06 W, promotion 0.26 s), which cross-checks the table values.
    public static let lte = RadioProfile(
        name: "lte", uplinkBitsPerSecond: 6e6, downlinkBitsPerSecond: 13e6, roundTripSeconds: 0.070,
        baseWatts: 1.28804, uplinkWattsPerMbps: 0.43839, downlinkWattsPerMbps: 0.05197, promotionSeconds: 0.2601,
        promotionWatts: 1.2107, tailSeconds: 11.576, tailWatts: 1.060)

    /// Wi-Fi, [Huang12]. Power model (Table 3): αu = 283.17 mW/Mbps, αd = 137.01 mW/Mbps, β = 132.86 mW.
    /// Promotion 79.1 ms at 124.4 mW, tail 238.1 ms at 119.3 mW (Table 4; ARO's Wi-Fi default tail is 0.25 s).
    /// Throughput 10 Mbit/s down, 5 Mbit/s up and 30 ms round trip are **assumptions** (the paper reports
    /// Wi-Fi medians below LTE's 13/6 Mbit/s; we do not have its exact Wi-Fi figures).
    public static let wifi = RadioProfile(
        name: "wifi", uplinkBitsPerSecond: 5e6, downlinkBitsPerSecond: 10e6, roundTripSeconds: 0.030,
        baseWatts: 0.13286, uplinkWattsPerMbps: 0.28317, downlinkWattsPerMbps: 0.13701, promotionSeconds: 0.0791,
        promotionWatts: 0.1244, tailSeconds: 0.2381, tailWatts: 0.1193)

    /// The profile named `name` (`lte` or `wifi`), or nil.
    public static func named(_ name: String) -> RadioProfile? {
        switch name.lowercased() {
        case "lte": return .lte
        case "wifi", "wi-fi": return .wifi
        default: return nil
        }
    }
}
