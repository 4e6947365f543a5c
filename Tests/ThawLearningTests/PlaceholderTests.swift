import Testing

@Suite struct ThawLearningPlaceholderTests {
    @Test func packageBuilds() { #expect(Bool(true)) }
}
