import Testing

@Suite struct ThawCLIPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
