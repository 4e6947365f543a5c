import Testing
import ThawDeviceProfile
import ThawNN

@testable import ThawNodes

@Suite struct DeviceProfileTests {
    @Test func lteTransferFollowsHuangsPowerModel() {
        let lte = RadioProfile.lte
        // 6 Mbit up at 6 Mbit/s is one second at β + αu·6 = 1.28804 + 0.43839·6 W, plus the round trip at β.
        let joules = lte.transferJoules(bytesUp: 750_000, bytesDown: 0)
        #expect(abs(joules - (1.28804 + 0.43839 * 6 + 0.070 * 1.28804)) < 1e-9)
        #expect(abs(lte.transferSeconds(bytesUp: 750_000, bytesDown: 0) - 1.070) < 1e-9)
    }

    @Test func theFirstTransferPaysAPromotionAndTheTailIsCutByTheNext() {
        var meter = RadioMeter(profile: .lte)
        let first = meter.transfer(bytesUp: 0, bytesDown: 0, at: 0)
        #expect(abs(first.charge.transferSeconds - (0.2601 + 0.070)) < 1e-9)
        #expect(first.charge.tailJoules == 0)
        // A second transfer 2 s after the first ended: 2 s of tail, no promotion (still connected).
        let second = meter.transfer(bytesUp: 0, bytesDown: 0, at: first.end + 2)
        #expect(abs(second.charge.tailSeconds - 2) < 1e-9)
        #expect(abs(second.charge.tailJoules - 2 * 1.060) < 1e-9)
        #expect(abs(second.charge.transferSeconds - 0.070) < 1e-9)
        // Long after: the full tail and only the full tail, then a promotion again.
        let third = meter.transfer(bytesUp: 0, bytesDown: 0, at: second.end + 100)
        #expect(abs(third.charge.tailSeconds - 11.576) < 1e-9)
        #expect(abs(third.charge.transferSeconds - (0.2601 + 0.070)) < 1e-9)
        #expect(abs(meter.finish().tailSeconds - 11.576) < 1e-9)
        #expect(meter.finish().tailSeconds == 0)
    }

    @Test func settlingInStepsChargesTheTailOnce() {
        var meter = RadioMeter(profile: .wifi)
        let end = meter.transfer(bytesUp: 10, bytesDown: 10, at: 5).end
        let parts = [end + 0.1, end + 0.2, end + 5].map { meter.settle(at: $0).tailSeconds }
        #expect(abs(parts.reduce(0, +) - RadioProfile.wifi.tailSeconds) < 1e-9)
    }

    @Test func computeIsPricedPerFLOPAndCounted() {
        var device = DeviceStateMachine(configuration: DeviceConfiguration(layerCount: 4))
        device.computed(flops: FLOPCount(forward: 6_000_000_000, backward: 4_000_000_000))
        #expect(abs(device.ledger[.compute] - 3.0) < 1e-9)  // 1e10 FLOPs at 0.3 nJ
        #expect(abs((device.ledger.seconds[.compute] ?? 0) - 1.0) < 1e-9)  // at 10 GFLOP/s
        #expect(device.ledger.flops.total == 10_000_000_000)
        #expect(device.ledger.metrics["energy_compute_joules"] == device.ledger[.compute])
    }

    @Test func aMeterAdvancesItsClockWithWorkAndChargesTheTailWhileWaiting() {
        var meter = DeviceMeter(profile: .phoneOnLTE)
        meter.compute(FLOPCount(forward: 20_000_000_000))
        #expect(abs(meter.clock - 2) < 1e-9)
        meter.transfer(bytesUp: 0, bytesDown: 1_625_000)  // 13 Mbit at 13 Mbit/s, after a promotion
        #expect(abs(meter.clock - (2 + 0.2601 + 0.070 + 1)) < 1e-9)
        meter.wait(until: meter.clock + 5)
        #expect(abs((meter.ledger.seconds[.radioTail] ?? 0) - 5) < 1e-9)
        meter.finish()
        #expect(abs((meter.ledger.seconds[.radioTail] ?? 0) - 11.576) < 1e-9)
        #expect(meter.ledger.bytesDown == 1_625_000 && meter.ledger.flops.total == 20_000_000_000)
    }

    @Test func aDeviceChargesTheTailOfARealSendOnLaterTicks() {
        var device = DeviceStateMachine(configuration: DeviceConfiguration(layerCount: 4))
        _ = device.tick(now: Timestamp(milliseconds: 0))
        device.transferred(bytesUp: 100_000, bytesDown: 0, now: Timestamp(milliseconds: 1000))
        let transfer = device.ledger[.radioTransfer]
        #expect(transfer > 0 && device.ledger[.radioTail] == 0)
        _ = device.tick(now: Timestamp(milliseconds: 60_000))
        #expect(abs((device.ledger.seconds[.radioTail] ?? 0) - 11.576) < 1e-6)
        #expect(device.ledger.bytesUp == 100_000 && device.ledger[.radioTransfer] == transfer)
    }
}
