/// Everything the simulation needs to price a phone's work: its CPU, its radio and its baseline drain.
public struct DeviceProfile: Sendable, Hashable, Codable {
    public var compute: ComputeProfile
    public var radio: RadioProfile
    /// Baseline drain while nothing else happens, watts. 0.05 W is an assumption (a screen-off phone in
    /// standby draws tens of milliwatts); it is the value the simulation used before profiles existed.
    public var idleWatts: Double

    public init(compute: ComputeProfile = .flagship2019, radio: RadioProfile = .lte, idleWatts: Double = 0.05) {
        self.compute = compute
        self.radio = radio
        self.idleWatts = idleWatts
    }

    /// The default phone: a 2019 flagship CPU on LTE.
    public static let phoneOnLTE = DeviceProfile(radio: .lte)
    /// The same phone on Wi-Fi.
    public static let phoneOnWiFi = DeviceProfile(radio: .wifi)
}
