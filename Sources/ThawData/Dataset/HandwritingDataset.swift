import Foundation

/// Handwritten digits with writer ids: a `train` split for the general model and a `test` split
/// whose writers (none seen in training) are the users to personalise for.
public struct HandwritingDataset: Sendable, Equatable {
    public let train: HandwritingSamples
    public let test: HandwritingSamples

    public init(train: HandwritingSamples, test: HandwritingSamples) {
        self.train = train
        self.test = test
    }

    /// The users: every test writer, ascending by id.
    public var userIDs: [UInt16] { test.writerIDs }

    /// Loads `<prefix>-images-idx3-ubyte`, `<prefix>-labels-idx1-ubyte` and
    /// `<prefix>-writers-idx1-uint16` for `train` and `t10k` from `directory` (the layout of
    /// `mnist-writers/`). Each file may be plain or gzipped, named with or without `.gz`.
    public static func load(directory: URL) throws(DataError) -> HandwritingDataset {
        HandwritingDataset(train: try loadSplit("train", in: directory), test: try loadSplit("t10k", in: directory))
    }

    /// The small subset shipped inside this module (see `Resources/handwriting/ATTRIBUTION.md`):
    /// 60 training writers and 48 test writers with about 100 digits each.
    public static func shipped() throws(DataError) -> HandwritingDataset {
        guard let url = Bundle.module.url(forResource: "handwriting", withExtension: nil) else {
            throw DataError(.fileUnreadable, path: "Bundle.module/handwriting", reason: "the shipped data resource is missing")
        }
        return try load(directory: url)
    }

    /// Loads one split (`"train"` or `"t10k"`) from `directory`.
    public static func loadSplit(_ prefix: String, in directory: URL) throws(DataError) -> HandwritingSamples {
        let names = ["\(prefix)-images-idx3-ubyte", "\(prefix)-labels-idx1-ubyte", "\(prefix)-writers-idx1-uint16"]
        let urls = try names.map { name throws(DataError) in try locate(name, in: directory) }
        let files = try urls.map { url throws(DataError) in try IDXFile(contentsOf: url) }
        return try HandwritingSamples.validated(images: files[0], labels: files[1], writers: files[2],
                                                paths: (urls[0].path, urls[1].path, urls[2].path))
    }

    /// Finds `name` or `name.gz` in `directory`.
    private static func locate(_ name: String, in directory: URL) throws(DataError) -> URL {
        let fm = FileManager.default
        for candidate in [name, name + ".gz"] {
            let url = directory.appendingPathComponent(candidate)
            if fm.fileExists(atPath: url.path) { return url }
        }
        throw DataError(.fileUnreadable, path: directory.appendingPathComponent(name).path,
                        reason: "neither \(name) nor \(name).gz exists")
    }
}
