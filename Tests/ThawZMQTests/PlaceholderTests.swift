import Testing

@Suite struct ThawZMQPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
