import Foundation
import ThawNN

/// Computes a head's entity tag: FNV-1a 64-bit over its version, stamps and parameter bytes, as 16 hex
/// digits.
///
/// The tag only has to change whenever the head does, for "if-none-match" checks; it is not a
/// security digest (the transport authenticates peers). Including the version makes it unique per
/// (user, version) even if two versions happen to hold identical parameters.
enum HeadDigest {
    static func tag(version: UInt64, stamps: FeatureStamps, parameterBlob: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
            for byte in bytes {
                hash ^= UInt64(byte)
                hash = hash &* 0x0000_0100_0000_01b3
            }
        }
        let header =
            "\(version)|\(stamps.modelVersion.number)|\(stamps.freezePoint.index)|\(stamps.hyperParameterHash)|"
        mix(header.utf8)
        mix(parameterBlob)
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
