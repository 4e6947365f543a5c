import Testing
@testable import ThawNodes

/// The phone state files carry a CRC-32 trailer; files written before the checksum moved to zlib must
/// still verify, so the value must be the standard CRC-32 (IEEE 802.3, reflected, as zlib and PNG use).
struct CRC32Tests {
    @Test func theChecksumIsTheStandardCRC32() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([UInt8]()) == 0)
        // A non-contiguous sequence gives the same value as its bytes.
        #expect(CRC32.checksum(Array("123456789".utf8).lazy.map { $0 }) == 0xCBF4_3926)
        // A slice (the store checksums `data.dropLast(4)`).
        let bytes = Array("123456789abcd".utf8)
        #expect(CRC32.checksum(bytes.dropLast(4)) == 0xCBF4_3926)
    }
}
