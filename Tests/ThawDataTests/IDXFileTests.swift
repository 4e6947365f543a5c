import Testing
@testable import ThawData

/// Handcrafted IDX bytes: every error path must throw a typed `DataError`, never trap.
@Suite struct IDXFileTests {
    static func idx(type: UInt8, dims: [UInt32], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0, 0, type, UInt8(dims.count)]
        for d in dims { out += [UInt8(d >> 24), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        return out + payload
    }

    @Test func readsUnsignedBytes() throws {
        let file = try IDXFile(bytes: Self.idx(type: 0x08, dims: [2, 2, 2], payload: [0, 1, 2, 3, 4, 5, 6, 255]))
        #expect(file.elementType == .unsignedByte)
        #expect(file.dimensions == [2, 2, 2])
        #expect(file.unsignedBytes == [0, 1, 2, 3, 4, 5, 6, 255])
    }

    @Test func readsBigEndianShorts() throws {
        let file = try IDXFile(bytes: Self.idx(type: 0x0B, dims: [3], payload: [0x00, 0x01, 0x0A, 0x27, 0x02, 0x63]))
        #expect(file.shorts == [1, 2599, 611])
    }

    @Test func readsGzippedInput() throws {
        let plain = Self.idx(type: 0x08, dims: [4], payload: [9, 8, 7, 6])
        let gz = try #require(Gzip.deflate(plain))
        #expect(gz[0] == 0x1F && gz[1] == 0x8B)
        let file = try IDXFile(bytes: gz)
        #expect(file.unsignedBytes == [9, 8, 7, 6])
        #expect(file.bytes == plain)
    }

    @Test func readsConcatenatedGzipMembers() throws {
        let plain = Self.idx(type: 0x08, dims: [6], payload: [1, 2, 3, 4, 5, 6])
        let a = try #require(Gzip.deflate(Array(plain[0..<7])))
        let b = try #require(Gzip.deflate(Array(plain[7...])))
        #expect(try IDXFile(bytes: a + b).unsignedBytes == [1, 2, 3, 4, 5, 6])
    }

    @Test func rejectsTruncatedGzip() throws {
        let gz = try #require(Gzip.deflate(Self.idx(type: 0x08, dims: [64], payload: Array(0..<64))))
        let error = #expect(throws: DataError.self) { try IDXFile(bytes: Array(gz.dropLast(12))) }
        #expect(error?.code == .truncated)
    }

    @Test func rejectsCorruptGzip() throws {
        var gz = try #require(Gzip.deflate(Self.idx(type: 0x08, dims: [64], payload: Array(0..<64))))
        for i in 12..<gz.count - 8 { gz[i] ^= 0xA5 }
        #expect(throws: DataError.self) { try IDXFile(bytes: gz) }
    }

    @Test(arguments: [
        ([UInt8](), DataError.Code.truncated),
        ([0, 0, 8], .truncated),
        ([1, 0, 8, 1, 0, 0, 0, 0], .wrongMagic),
        ([0, 0, 8, 0], .wrongMagic),
        ([0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0], .wrongType),
        ([0, 0, 8, 2, 0, 0, 0, 1], .truncated),
        ([0, 0, 8, 1, 0, 0, 0, 3, 1, 2], .truncated),
        ([0, 0, 8, 1, 0, 0, 0, 1, 1, 2], .dimensionMismatch),
        ([0, 0, 0x0B, 1, 0, 0, 0, 2, 0, 1, 0], .truncated),
        ([0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], .dimensionMismatch),
    ])
    func rejectsMalformedFiles(bytes: [UInt8], code: DataError.Code) {
        let error = #expect(throws: DataError.self) { try IDXFile(bytes: bytes) }
        #expect(error?.code == code)
    }
}
