import Testing
import ThawNN

/// ReLU's vector loops against the scalar rule, over lengths with and without a scalar tail.
@Suite struct VectorKernelTests {
    @Test(arguments: [1, 15, 16, 17, 37, 64])
    func reluMatchesTheScalarRule(_ count: Int) {
        var generator = SeededGenerator(seed: UInt64(40 + count))
        var values = (0..<count).map { _ in generator.nextUnitFloat() - 0.5 }
        values[0] = .nan
        if count > 2 { values[2] = -0.0 }
        let x = Tensor(shape: [1, count], scalars: values)
        let layer = ReLU()
        let y = layer.forward(x, training: true)
        for i in 0..<count {
            let expected: Float = values[i] > 0 ? values[i] : 0
            #expect(y.scalars[i] == expected && y.scalars[i].sign == expected.sign, "y[\(i)] for \(values[i])")
        }
        let dy = Tensor(shape: [1, count], scalars: (0..<count).map { Float($0) + 1 })
        let dx = layer.backward(dy)
        for i in 0..<count {
            #expect(dx.scalars[i] == (values[i] > 0 ? dy.scalars[i] : 0), "dx[\(i)] for \(values[i])")
        }
    }
}
