import Testing

@Suite struct ThawIntegrationPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
