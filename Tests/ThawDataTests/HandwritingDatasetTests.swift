import Foundation
import Testing
@testable import ThawData

@Suite struct HandwritingDatasetTests {
    typealias Files = (images: IDXFile, labels: IDXFile, writers: IDXFile)
    static let paths = (images: "i", labels: "l", writers: "w")

    static func files(n: Int = 3, labels: [UInt8]? = nil, writerCount: Int? = nil) -> Files {
        let images = IDXFile(elementType: .unsignedByte, dimensions: [n, 2, 2], payload: Array(repeating: 7, count: n * 4))
        let lab = IDXFile(elementType: .unsignedByte, dimensions: [n], payload: labels ?? (0..<n).map { UInt8($0 % 10) })
        let w = writerCount ?? n
        let writers = IDXFile(elementType: .short, dimensions: [w], payload: (0..<w).flatMap { [0, UInt8($0)] })
        return (images, lab, writers)
    }

    @Test func validatesConsistentFiles() throws {
        let f = Self.files()
        let s = try HandwritingSamples.validated(images: f.images, labels: f.labels, writers: f.writers, paths: Self.paths)
        #expect(s.count == 3 && s.rows == 2 && s.columns == 2)
        #expect(s.writers == [0, 1, 2])
        #expect(s.floatPixels([1]).allSatisfy { abs($0 - 7.0 / 255) < 1e-6 })
    }

    @Test func rejectsMismatchedCounts() {
        let f = Self.files(writerCount: 2)
        let error = #expect(throws: DataError.self) {
            try HandwritingSamples.validated(images: f.images, labels: f.labels, writers: f.writers, paths: Self.paths)
        }
        #expect(error?.code == .countMismatch)
    }

    @Test func rejectsSwappedTypes() {
        let f = Self.files()
        let error = #expect(throws: DataError.self) {
            try HandwritingSamples.validated(images: f.images, labels: f.writers, writers: f.labels, paths: Self.paths)
        }
        #expect(error?.code == .wrongType)
    }

    @Test func rejectsLabelsAboveNine() {
        let f = Self.files(labels: [1, 10, 2])
        let error = #expect(throws: DataError.self) {
            try HandwritingSamples.validated(images: f.images, labels: f.labels, writers: f.writers, paths: Self.paths)
        }
        #expect(error?.code == .invalidValue)
    }

    @Test func rejectsImagesWithoutThreeDimensions() {
        let f = Self.files()
        let flat = IDXFile(elementType: .unsignedByte, dimensions: [12], payload: Array(repeating: 0, count: 12))
        let error = #expect(throws: DataError.self) {
            try HandwritingSamples.validated(images: flat, labels: f.labels, writers: f.writers, paths: Self.paths)
        }
        #expect(error?.code == .dimensionMismatch)
    }

    @Test func missingDirectoryIsUnreadable() {
        let error = #expect(throws: DataError.self) {
            try HandwritingDataset.load(directory: URL(fileURLWithPath: "/nonexistent/thaw-data"))
        }
        #expect(error?.code == .fileUnreadable)
    }

    @Test func loadsPlainAndGzippedFilesFromADirectory() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("thaw-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = Self.files()
        for prefix in ["train", "t10k"] {
            try Data(try #require(Gzip.deflate(f.images.bytes))).write(to: dir.appendingPathComponent("\(prefix)-images-idx3-ubyte.gz"))
            try Data(f.labels.bytes).write(to: dir.appendingPathComponent("\(prefix)-labels-idx1-ubyte"))
            try Data(f.writers.bytes).write(to: dir.appendingPathComponent("\(prefix)-writers-idx1-uint16"))
        }
        let data = try HandwritingDataset.load(directory: dir)
        #expect(data.train.count == 3 && data.test.count == 3)
        #expect(data.userIDs == [0, 1, 2])
    }

    @Test func shippedSubsetHasTrainingWritersAndUsers() throws {
        let data = try HandwritingDataset.shipped()
        #expect(data.train.rows == 28 && data.train.columns == 28)
        #expect(data.train.writerIDs.count == 60)
        #expect(data.userIDs.count == 48)
        #expect(Set(data.train.writerIDs).isDisjoint(with: data.userIDs))
        let perUser = data.test.indicesByWriter.values.map(\.count)
        #expect(perUser.min()! >= 10)
        #expect(perUser.reduce(0, +) / perUser.count >= 90)
    }
}
