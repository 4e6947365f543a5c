import Testing

@Suite struct ThawNNPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
