import ThawNN

/// Seeded synthetic classification data for the end-to-end tests.
enum SyntheticData {
    /// `classes` Gaussian blobs in `features` dimensions with centres 3 units apart: linearly separable in
    /// practice.
    static func blobs(count: Int, features: Int, classes: Int, seed: UInt64) -> (x: Tensor, labels: [Int]) {
        var generator = SeededGenerator(seed: seed)
        let centres = (0..<classes).map { _ in (0..<features).map { _ in (generator.nextUnitFloat() * 2 - 1) * 3 } }
        var values: [Float] = []
        var labels: [Int] = []
        for i in 0..<count {
            let label = i % classes
            labels.append(label)
            values.append(contentsOf: centres[label].map { $0 + generator.nextGaussian() * 0.5 })
        }
        return (Tensor(shape: [count, features], scalars: values), labels)
    }

    /// Images `[count, 1, side, side]` whose class is the quadrant holding a bright square, plus noise.
    static func quadrantImages(count: Int, side: Int, seed: UInt64) -> (x: Tensor, labels: [Int]) {
        var generator = SeededGenerator(seed: seed)
        var values = [Float](repeating: 0, count: count * side * side)
        var labels: [Int] = []
        let half = side / 2
        for n in 0..<count {
            let label = n % 4
            labels.append(label)
            let (top, left) = ((label / 2) * half, (label % 2) * half)
            for i in 0..<(side * side) { values[n * side * side + i] = generator.nextGaussian() * 0.1 }
            for y in (top + 1)..<(top + half - 1) {
                for x in (left + 1)..<(left + half - 1) { values[n * side * side + y * side + x] += 1 }
            }
        }
        return (Tensor(shape: [count, 1, side, side], scalars: values), labels)
    }
}
