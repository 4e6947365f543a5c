import Foundation
import ThawNN

/// A minimal stand-in checkpoint (`THAWSNAP1`, architecture name, parameter count, then float32
/// little-endian parameters) used until ThawModel's checkpoint format is merged.
enum ModelFile {
    struct FileError: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "\(path): \(reason)" }
    }

    static func write(_ model: Model, architecture: ArchitectureChoice, to path: String) throws {
        var data = Data("THAWSNAP1\n\(architecture.rawValue)\n\(model.parameters.count)\n".utf8)
        model.parameters.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
        try data.write(to: URL(fileURLWithPath: path))
    }

    static func read(from path: String) throws -> Model {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let bytes = [UInt8](data)
        var lines: [String] = []
        var offset = 0
        while lines.count < 3, let nl = bytes[offset...].firstIndex(of: 0x0A) {
            lines.append(String(decoding: bytes[offset..<nl], as: UTF8.self))
            offset = nl + 1
        }
        guard lines.count == 3, lines[0] == "THAWSNAP1" else { throw FileError(path: path, reason: "not a THAWSNAP1 model file") }
        guard let choice = ArchitectureChoice(rawValue: lines[1]) else { throw FileError(path: path, reason: "unknown architecture \(lines[1])") }
        let architecture = choice.architecture
        guard let count = Int(lines[2]), count == architecture.parameterCount, bytes.count - offset == count * 4 else {
            throw FileError(path: path, reason: "parameter count does not match \(choice.rawValue)")
        }
        var parameters = [Float](repeating: 0, count: count)
        parameters.withUnsafeMutableBytes { dst in
            bytes.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset...])) }
        }
        return Model(architecture: architecture, parameters: parameters)
    }
}
