import Testing

@Suite struct ThawWirePlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
