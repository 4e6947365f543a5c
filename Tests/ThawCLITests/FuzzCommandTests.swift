import ArgumentParser
import Testing

@testable import thaw

@Suite struct FuzzCommandTests {
    @Test func parsesTargetRunsSeedAndCorpus() throws {
        let command = try Thaw.parseAsRoot([
            "fuzz", "device-cache", "--runs", "50", "--seed", "9", "--corpus", "scripts/fuzz/corpus",
        ])
        let fuzz = try #require(command as? FuzzCommand)
        #expect(fuzz.target == "device-cache")
        #expect(fuzz.runs == 50)
        #expect(fuzz.seed == 9)
        #expect(fuzz.corpus == "scripts/fuzz/corpus")
        #expect(fuzz.maxMemoryMib == 512)
    }

    @Test func refusesAnUnknownTargetAndNoRuns() {
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["fuzz", "yaml"]) }
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["fuzz", "wire", "--runs", "0"]) }
    }
}
