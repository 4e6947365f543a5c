import Testing

@testable import ThawWire

@Suite struct TensorFrameTests {
    @Test func theVectorFiniteScanFindsTheFirstBadValueAnywhere() {
        for count in [0, 1, 15, 16, 17, 1_000, 4_099] {
            #expect(TensorFrame.firstNonFinite(in: [Float](repeating: 1e30, count: count)) == nil)
            for bad in [Float.nan, .infinity, -.infinity] where count > 0 {
                for index in Set([0, count / 2, count - 1]) {
                    var values = [Float](repeating: -2.5, count: count)
                    values[index] = bad
                    #expect(TensorFrame.firstNonFinite(in: values) == index, "count \(count), index \(index)")
                }
            }
        }
    }
}
