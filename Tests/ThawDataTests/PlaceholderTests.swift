import Testing

@Suite struct ThawDataPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
