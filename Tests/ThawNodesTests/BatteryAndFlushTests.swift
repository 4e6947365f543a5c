import Testing

import ThawDeviceProfile
@testable import ThawNodes

@Suite struct BatteryAndFlushTests {
    @Test func batteryStaysWithinZeroAndCapacity() {
        var battery = BatteryModel(capacityJoules: 100, levelJoules: 30)
        #expect(battery.drain(20) == 20)
        #expect(battery.drain(50) == 10)  // only what was left
        #expect(battery.levelJoules == 0 && battery.percent == 0)
        #expect(battery.charge(over: .seconds(10)) == 0)  // unplugged
        battery.chargingWatts = 5
        #expect(battery.isCharging)
        #expect(battery.charge(over: .seconds(4)) == 20)
        #expect(battery.percent == 20)
        #expect(battery.charge(over: .seconds(60)) == 80)  // stops at full
        #expect(battery.levelJoules == 100)
    }

    @Test func ledgerCountsByCategory() {
        var ledger = EnergyLedger()
        ledger.record(1.5, as: .compute)
        ledger.record(0.5, as: .compute)
        ledger.record(2, as: .radioTail)
        #expect(ledger[.compute] == 2 && ledger[.radioTail] == 2 && ledger[.idle] == 0)
        #expect(ledger.total == 4)
    }

    @Test func flushNeedsPowerAndEnoughWork() {
        let policy = FlushPolicy(minimumBatteryPercent: 20, minimumBatch: 10, maximumAge: .seconds(60))
        func decide(
            battery: Double = 80, charging: Bool = false, pending: Int = 10, age: Duration = .zero, full: Bool = false
        ) -> FlushPolicy.Decision {
            policy.decide(
                batteryPercent: battery, charging: charging, pending: pending, oldestPendingAge: age, outboxFull: full)
        }
        #expect(decide() == .flush)
        #expect(decide(pending: 0) == .wait(.nothingPending))
        #expect(decide(battery: 15) == .wait(.lowBattery))
        #expect(decide(battery: 15, charging: true) == .flush)  // charging overrides a low battery
        #expect(decide(pending: 3) == .wait(.batchTooSmall))
        #expect(decide(pending: 3, age: .seconds(60)) == .flush)  // old enough
        #expect(decide(full: true) == .wait(.outboxFull))  // back off instead of piling up
        #expect(
            policy.decide(
                batteryPercent: 80, charging: false, pending: 1, oldestPendingAge: .zero, outboxFull: false,
                cacheOverCapacity: true) == .flush)
    }
}
