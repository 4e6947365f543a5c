import Testing

@Suite struct ThawTopologyPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
