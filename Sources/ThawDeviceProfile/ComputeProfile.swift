/// How fast a phone's CPU trains and what each FLOP costs, to turn counted FLOPs into device seconds and joules.
///
/// Only sustained throughput and average power matter here: the simulation charges
/// `seconds = flops / flopsPerSecond` and `joules = flops × joulesPerFLOP`. See docs/EVALUATION.md
/// ("Device profiles") for where each default comes from and how sensitive the results are to it.
public struct ComputeProfile: Sendable, Hashable, Codable {
    public var name: String
    /// Sustained single-precision FLOP/s of the CPU while training (not the datasheet peak).
    public var flopsPerSecond: Double
    /// Average power of the CPU cluster at that load, in watts.
    public var activeWatts: Double

    public init(name: String, flopsPerSecond: Double, activeWatts: Double) {
        precondition(flopsPerSecond > 0 && activeWatts >= 0, "a CPU needs a positive speed and a non-negative power")
        self.name = name
        self.flopsPerSecond = flopsPerSecond
        self.activeWatts = activeWatts
    }

    /// Joules per FLOP at the sustained rate.
    public var joulesPerFLOP: Double { activeWatts / flopsPerSecond }

    /// Device seconds to execute `flops`.
    public func seconds(flops: Int) -> Double { Double(flops) / flopsPerSecond }

    /// Joules to execute `flops`.
    public func joules(flops: Int) -> Double { Double(flops) * joulesPerFLOP }

    /// A 2019 flagship phone CPU (Snapdragon 855 class: 1 × Cortex-A76 at 2.84 GHz + 3 × A76 at 2.42 GHz).
    ///
    /// - Peak: a Cortex-A76 issues two 128-bit NEON FMA per cycle, 16 FP32 FLOPs/cycle (Arm Cortex-A76 Software
    ///   Optimization Guide, "ASIMD floating-point multiply-accumulate" throughput 2/cycle), so the four big
    ///   cores peak at 16 × (2.84 + 3 × 2.42) GHz ≈ 162 GFLOP/s.
    /// - Sustained: **10 GFLOP/s**, an assumption: about 6 % of peak, the order of efficiency CPU training
    ///   frameworks reach on phones once thermal throttling sets in. Not measured here.
    /// - Power: **3 W**, an assumption for the big cluster under sustained load (a phone SoC's sustained
    ///   thermal envelope is about 3–5 W). Not measured here.
    /// - Hence 0.3 nJ/FLOP. `thaw bench compare --device-gflops/--device-watts` changes both.
    public static let flagship2019 = ComputeProfile(name: "flagship-2019-cpu", flopsPerSecond: 10e9, activeWatts: 3.0)
}
