import Testing

@Suite struct ThawModelPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
