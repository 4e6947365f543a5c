import Foundation
import ThawNN

/// Reading and writing model files on disk.
extension ModelCheckpoint {
    /// Writes `model` to `path` atomically (a temporary file renamed into place), so a reader never sees a
    /// half-written model.
    ///
    /// - Throws: ``ModelFileError`` `.io` with the path and the underlying error.
    public static func save(_ model: Model, version: ModelVersion, to path: String) throws(ModelFileError) {
        try write(encode(model, version: version), to: path)
    }

    /// Writes `contents` to `path` atomically.
    public static func save(_ contents: Contents, to path: String) throws(ModelFileError) {
        try write(encode(contents), to: path)
    }

    /// Reads and validates the model file at `path`.
    ///
    /// - Throws: ``ModelFileError`` `.io` if the file cannot be read, otherwise whatever ``decode(_:)`` throws.
    public static func load(from path: String) throws(ModelFileError) -> Contents {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ModelFileError(.io, "cannot read \(path): \(error)")
        }
        return try decode([UInt8](data))
    }

    private static func write(_ bytes: [UInt8], to path: String) throws(ModelFileError) {
        do {
            try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw ModelFileError(.io, "cannot write \(path): \(error)")
        }
    }
}
