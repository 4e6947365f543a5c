import Testing

@Suite struct ThawNodesPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
