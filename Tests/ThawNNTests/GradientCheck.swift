import ThawNN

/// Central-difference gradient checking for one layer, with the loss computed in Double.
///
/// The scalar checked is L(x, θ) = Σ y·r for a fixed random projection r, so dL/dy = r. The analytic gradients
/// come from `backward(r)`; the numeric ones from (L(v + ε) − L(v − ε)) / 2ε for each input and parameter.
enum GradientCheck {
    /// How close analytic and numeric gradients must be: |a − n| ≤ absolute + relative · max(|a|, |n|).
    struct Tolerance {
        var absolute: Double
        var relative: Double
        /// For layers that are linear in the perturbed value (Dense, Conv2D, Flatten, Dropout): the difference
        /// quotient is exact up to Float rounding of the outputs.
        static let linear = Tolerance(absolute: 2e-3, relative: 1e-2)
        /// For piecewise-linear layers with inputs kept at least 10·ε from a kink (ReLU, MaxPool2D).
        static let piecewise = Tolerance(absolute: 2e-3, relative: 1e-2)
        /// For the softmax cross-entropy, whose curvature makes the quotient approximate.
        static let loss = Tolerance(absolute: 5e-4, relative: 2e-2)
    }

    struct Mismatch: Error, CustomStringConvertible {
        let what: String
        let index: Int
        let analytic: Double
        let numeric: Double
        var description: String { "\(what)[\(index)]: analytic \(analytic) vs numeric \(numeric)" }
    }

    static func projectedLoss(_ y: Tensor, _ r: [Float]) -> Double {
        zip(y.scalars, r).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
    }

    /// Checks dL/dx and dL/dθ for `layer`, whose parameters (if any) live in `buffer`.
    static func check(
        layer: any Layer, buffer: ParameterBuffer?, input: Tensor, epsilon: Float, tolerance: Tolerance,
        generator: inout SeededGenerator
    ) throws {
        let probe = layer.forward(input, training: true)
        let r = (0..<probe.count).map { _ in generator.nextUnitFloat() * 2 - 1 }
        let dy = Tensor(shape: probe.shape, scalars: r)
        buffer?.zeroGradients(for: 0..<(buffer?.count ?? 0))
        _ = layer.forward(input, training: true)
        let dx = layer.backward(dy)
        let parameterGradients = buffer?.gradients ?? []

        for i in 0..<input.count {
            var plus = input
            plus.scalars[i] += epsilon
            var minus = input
            minus.scalars[i] -= epsilon
            let numeric =
                (projectedLoss(layer.forward(plus, training: true), r)
                    - projectedLoss(layer.forward(minus, training: true), r)) / (2 * Double(epsilon))
            try compare("dx", i, Double(dx.scalars[i]), numeric, tolerance)
        }
        guard let buffer else { return }
        for i in 0..<buffer.count {
            let original = buffer.values[i]
            buffer.values[i] = original + epsilon
            let lossPlus = projectedLoss(layer.forward(input, training: true), r)
            buffer.values[i] = original - epsilon
            let lossMinus = projectedLoss(layer.forward(input, training: true), r)
            buffer.values[i] = original
            try compare(
                "dθ", i, Double(parameterGradients[i]), (lossPlus - lossMinus) / (2 * Double(epsilon)), tolerance)
        }
    }

    static func compare(_ what: String, _ index: Int, _ analytic: Double, _ numeric: Double, _ tolerance: Tolerance)
        throws
    {
        let allowed = tolerance.absolute + tolerance.relative * max(abs(analytic), abs(numeric))
        if !(abs(analytic - numeric) <= allowed) {
            throw Mismatch(what: what, index: index, analytic: analytic, numeric: numeric)
        }
    }

    /// A tensor of uniform values in [-1, 1).
    static func randomTensor(_ shape: [Int], _ generator: inout SeededGenerator) -> Tensor {
        Tensor(shape: shape, scalars: (0..<Tensor.elementCount(shape)).map { _ in generator.nextUnitFloat() * 2 - 1 })
    }
}
