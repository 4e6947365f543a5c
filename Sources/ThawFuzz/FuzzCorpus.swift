import Foundation
import ThawNodes

/// Fuzz inputs on disk: one file per input, `<name>.fz`, holding a list of frames
/// (u32 frame count, then per frame u32 byte length and the bytes; little-endian).
///
/// A corpus folder holds one sub-folder per target (`wire/`, `published/`, `model/`, `device-cache/`).
public enum FuzzCorpus {
    public static func encode(_ frames: [[UInt8]]) -> [UInt8] {
        var bytes: [UInt8] = []
        func append(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
        append(UInt32(frames.count))
        for frame in frames {
            append(UInt32(frame.count))
            bytes.append(contentsOf: frame)
        }
        return bytes
    }

    /// The frames in `bytes`, or `nil` when the container itself is malformed.
    public static func decode(_ bytes: [UInt8]) -> [[UInt8]]? {
        var offset = 0
        func read() -> Int? {
            guard bytes.count - offset >= 4 else { return nil }
            var value: UInt32 = 0
            for index in 0..<4 { value |= UInt32(bytes[offset + index]) << (8 * UInt32(index)) }
            offset += 4
            return Int(value)
        }
        guard let count = read(), count <= 1024 else { return nil }
        var frames: [[UInt8]] = []
        for _ in 0..<count {
            guard let length = read(), bytes.count - offset >= length else { return nil }
            frames.append(Array(bytes[offset..<offset + length]))
            offset += length
        }
        return offset == bytes.count ? frames : nil
    }

    /// Every `.fz` input in `directory/target`, sorted by file name; none when the folder is missing.
    /// - Throws: when a file cannot be read or is not a frame container.
    public static func load(_ directory: String, target: FuzzTarget) throws -> [[[UInt8]]] {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent(target.rawValue)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else { return [] }
        return try names.filter { $0.hasSuffix(".fz") }.sorted().map { name in
            let bytes = try [UInt8](Data(contentsOf: folder.appendingPathComponent(name)))
            guard let frames = decode(bytes) else {
                throw NodeError(.badConfiguration, "\(folder.path)/\(name) is not a fuzz input file")
            }
            return frames
        }
    }

    /// Writes `inputs` as `directory/target/<name>.fz`, replacing files of the same name.
    public static func save(_ inputs: [(name: String, frames: [[UInt8]])], to directory: String, target: FuzzTarget)
        throws
    {
        let folder = URL(fileURLWithPath: directory).appendingPathComponent(target.rawValue)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for input in inputs {
            try Data(encode(input.frames)).write(to: folder.appendingPathComponent("\(input.name).fz"))
        }
    }
}
