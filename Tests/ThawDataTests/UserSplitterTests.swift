import Testing
@testable import ThawData

@Suite struct UserSplitterTests {
    static func samples(writers: [UInt16]) -> HandwritingSamples {
        HandwritingSamples(rows: 1, columns: 1, pixels: writers.indices.map { UInt8($0 % 256) },
                           labels: writers.indices.map { UInt8($0 % 10) }, writers: writers)
    }

    @Test func splitIsDeterministicAndPartitionsTheWriter() {
        let s = Self.samples(writers: (0..<200).map { UInt16($0 % 4) })
        let splitter = UserSplitter(adaptationFraction: 0.5, seed: 42)
        let a = splitter.split(s, writer: 2)
        #expect(a == splitter.split(s, writer: 2))
        #expect(a.adaptation.count == 25 && a.evaluation.count == 25)
        #expect(Set(a.adaptation).isDisjoint(with: a.evaluation))
        #expect(Set(a.adaptation + a.evaluation) == Set(s.writers.indices.filter { s.writers[$0] == 2 }))
    }

    @Test func splitDoesNotDependOnOtherWritersOrOrder() {
        let splitter = UserSplitter(adaptationFraction: 0.3, seed: 7)
        let indices = Array(stride(from: 5, to: 500, by: 5))
        let forward = splitter.split(indices: indices, writer: 99)
        let backward = splitter.split(indices: indices.reversed(), writer: 99)
        #expect(forward == backward)
        #expect(forward.adaptation.count == 30)
        let all = splitter.splitAll(Self.samples(writers: (0..<40).map { UInt16($0 % 2) }))
        #expect(all.map(\.writer) == [0, 1])
    }

    @Test func differentSeedsGiveDifferentSplits() {
        let indices = Array(0..<100)
        let a = UserSplitter(seed: 1).split(indices: indices, writer: 3)
        let b = UserSplitter(seed: 2).split(indices: indices, writer: 3)
        #expect(a != b)
    }

    @Test func tinyWritersKeepOneSampleOnEachSide() {
        let split = UserSplitter(adaptationFraction: 0.9, seed: 0).split(indices: [4, 8], writer: 1)
        #expect(split.adaptation.count == 1 && split.evaluation.count == 1)
    }
}
