import ThawModel
import ThawNN

/// Model files for the learning commands: ThawModel's `THAWMDL1` checkpoints (architecture, version
/// and parameters, validated on load).
enum ModelFile {
    static func write(_ model: Model, to path: String) throws {
        try ModelCheckpoint.save(model, version: ModelVersion(1), to: path)
    }

    static func read(from path: String) throws -> Model {
        try ModelCheckpoint.load(from: path).makeModel()
    }
}
