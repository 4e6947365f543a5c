import Foundation
import Testing
import ThawData
import ThawNN

@testable import ThawNodes

/// Activations are stored without their zeros (``CompactScalars``): every value must come back bit for
/// bit, the cache budget must still count 4 bytes per scalar, and real backbone outputs must shrink.
@Suite struct CompactActivationTests {
    private static func bits(_ scalars: [Float]) -> [UInt32] { scalars.map(\.bitPattern) }

    @Test(arguments: [0, 1, 31, 32, 33, 64, 100, 3136])
    func roundTripsEveryBitPattern(count: Int) {
        var generator = SeededGenerator(seed: UInt64(count) + 1)
        let specials: [Float] = [-0.0, .nan, -.nan, .infinity, -.infinity, .leastNonzeroMagnitude, -1, 1e-38, 3.5]
        for zeroShare in [0.0, 0.5, 0.9, 1.0] {
            let scalars = (0..<count).map { index -> Float in
                if Double(generator.next() % 1000) / 1000 < zeroShare { return 0 }
                if index % 7 == 3 { return specials[Int(generator.next() % UInt64(specials.count))] }
                return Float(bitPattern: UInt32(truncatingIfNeeded: generator.next()))
            }
            let activation = Activation(shape: [count], scalars: scalars)
            #expect(Self.bits(activation.scalars) == Self.bits(scalars))
            #expect(activation.count == count)
            #expect(activation.byteCount == count * 4)
            var appended: [Float] = [42]
            activation.append(to: &appended)
            #expect(Self.bits(appended) == [Float(42).bitPattern] + Self.bits(scalars))
            // Never larger than the plain form by more than the mask's few words.
            #expect(activation.storedByteCount <= count * 4)
        }
    }

    @Test func sparseScalarsTakeTheMaskAndTheNonZerosOnly() {
        var scalars = [Float](repeating: 0, count: 3136)
        for index in stride(from: 0, to: 3136, by: 4) { scalars[index] = Float(index) + 0.5 }
        let activation = Activation(shape: [64, 7, 7], scalars: scalars)
        // 98 mask words and 784 values.
        #expect(activation.storedByteCount == (98 + 784) * 4)
        #expect(activation.byteCount == 3136 * 4)
        #expect(activation.scalars == scalars)
        let dense = Activation(shape: [3136], scalars: (0..<3136).map { Float($0) + 1 })
        #expect(dense.storedByteCount == 3136 * 4)
    }

    @Test func equalityIsTheFloatsOwn() {
        let a = Activation(shape: [3], scalars: [0, 1, 2])
        #expect(a == Activation(shape: [3], scalars: [0, 1, 2]))
        #expect(a == Activation(shape: [3], scalars: [-0.0, 1, 2]))
        #expect(a != Activation(shape: [3], scalars: [0, 1, 3]))
        #expect(a != Activation(shape: [1, 3], scalars: [0, 1, 2]))
        #expect(Activation(shape: [1], scalars: [.nan]) != Activation(shape: [1], scalars: [.nan]))
        var changed = a
        changed.scalars = [5, 0, 0]
        #expect(changed.scalars == [5, 0, 0])
        #expect(changed != a)
    }

    @Test func theCacheBudgetStillCountsFourBytesPerScalar() {
        var cache = ActivationCache(capacityBytes: 3 * 400)
        let sparse = [Float](repeating: 0, count: 100)
        for id in 0..<4 {
            _ = cache.insert(
                CachedActivation(
                    sampleId: UInt64(id), label: 1, annotated: false, activation: Activation(shape: [100], scalars: sparse),
                    stamp: Fixture.stamp(), createdAt: Timestamp(milliseconds: UInt64(id))))
        }
        // Compact, four entries would fit many times over; the rules still see 400 bytes each.
        #expect(cache.count == 3)
        #expect(cache.byteCount == 1200)
    }

    /// The shipped images through the benchmark's base model (FedAvg CNN, seed 1) to freeze point 7:
    /// the cached form round-trips exactly and is smaller than the plain one.
    @Test func realBackboneOutputsRoundTripAndShrink() throws {
        let dataset = try HandwritingDataset.shipped()
        let model = Model(architecture: .fedAvgCNN(), seed: 1)
        let samples = Array(0..<32)
        let output = model.forward(
            Tensor(shape: [samples.count, 1, 28, 28], scalars: dataset.test.floatPixels(samples)), layers: 0..<7,
            training: false)
        var plain = 0
        var stored = 0
        for row in samples.indices {
            let activation = DeviceFleet.row(row, of: output)
            let width = output.sampleCount
            #expect(Self.bits(activation.scalars) == Self.bits(Array(output.scalars[(row * width)..<((row + 1) * width)])))
            plain += activation.byteCount
            stored += activation.storedByteCount
        }
        print("freeze point 7 outputs of the FedAvg CNN (seed 1), 32 shipped samples: \(stored) of \(plain) bytes")
        #expect(stored < plain)
    }
}

/// The snapshot checksum, eight bytes at a time, against the bytewise definition and known values.
@Suite struct SnapshotChecksumTests {
    private static func bytewise(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return crc ^ 0xFFFF_FFFF
    }

    @Test func matchesTheBytewiseDefinition() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        var generator = SeededGenerator(seed: 9)
        for count in [1, 7, 8, 9, 15, 16, 17, 1000, 4099] {
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            #expect(CRC32.checksum(bytes) == Self.bytewise(bytes))
            // Slices and non-contiguous sequences take the other paths.
            #expect(CRC32.checksum(bytes.dropLast(1)) == Self.bytewise(Array(bytes.dropLast(1))))
            #expect(CRC32.checksum(bytes.lazy.map { $0 }) == Self.bytewise(bytes))
        }
    }
}

extension CompactActivationTests {
    @Test func aCheckpointEqualToTheOutputSharesItsStorage() {
        let pooled = Activation(shape: [64, 7, 7], scalars: (0..<3136).map { $0 % 3 == 0 ? 0 : Float($0) })
        let flat = Activation(shape: [3136], scalars: pooled.scalars)
        #expect(flat.hasSameBits(as: pooled))
        let shared = Activation(shape: [64, 7, 7], sharing: flat)
        #expect(shared == pooled)
        #expect(shared.byteCount == pooled.byteCount)
        #expect(!flat.hasSameBits(as: Activation(shape: [3136], scalars: (0..<3136).map { Float($0) })))
        #expect(!Activation(shape: [1], scalars: [0]).hasSameBits(as: Activation(shape: [1], scalars: [-0.0])))
    }
}
