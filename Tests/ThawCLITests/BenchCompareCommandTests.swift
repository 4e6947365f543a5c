import ArgumentParser
import Testing
import ThawBench
import ThawNodes

@testable import thaw

@Suite struct BenchCompareCommandTests {
    @Test func parsesFedAvgParametersAndClientCounts() throws {
        let parsed = try Thaw.parseAsRoot([
            "bench", "compare", "--client-fraction", "0.2", "--local-epochs", "3", "--clients", "10, 50", "--radio",
            "wifi",
        ])
        let command = try #require(parsed as? BenchCompareCommand)
        #expect(command.clientCounts == [10, 50])
        #expect(command.settings.clientFraction == 0.2 && command.settings.localEpochs == 3)
    }

    @Test func refusesImpossibleSettings() {
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["bench", "compare", "--client-fraction", "0"]) }
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["bench", "compare", "--radio", "5g"]) }
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["bench", "compare", "--clients", "x"]) }
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["bench", "compare", "--encodings", "int4"]) }
        #expect(throws: (any Error).self) { try Thaw.parseAsRoot(["bench", "transport", "--sender-frame", "zero"]) }
    }

    @Test func parsesActivationEncodings() throws {
        let parsed = try Thaw.parseAsRoot(["bench", "compare", "--encodings", "float32, int8"])
        let command = try #require(parsed as? BenchCompareCommand)
        #expect(command.encodings == "float32, int8")
        #expect(ComparisonBenchmark.encodings(named: command.encodings)?.map { "\($0)" } == ["float32", "int8"])
    }
}
