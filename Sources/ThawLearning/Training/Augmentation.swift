import Foundation
import ThawNN

/// Light data augmentation for pretraining: each image shifted by a random whole number of pixels in
/// each direction (zero fill), seeded so a run is reproducible.
public struct RandomShift: Sendable {
    /// Largest shift in pixels, in each direction (0: no augmentation).
    public var maximum: Int

    public init(maximum: Int) {
        precondition(maximum >= 0, "a shift must be >= 0 pixels")
        self.maximum = maximum
    }

    /// Shifts every image of an `[n, channels, rows, columns]` batch by its own random offset.
    public func apply(_ batch: Tensor, using generator: inout SeededGenerator) -> Tensor {
        guard maximum > 0, batch.shape.count == 4 else { return batch }
        let (n, channels, rows, columns) = (batch.shape[0], batch.shape[1], batch.shape[2], batch.shape[3])
        let source = batch.scalars
        var out = [Float](repeating: 0, count: source.count)
        for i in 0..<n {
            let dy = Int.random(in: -maximum...maximum, using: &generator)
            let dx = Int.random(in: -maximum...maximum, using: &generator)
            for c in 0..<channels {
                let base = (i * channels + c) * rows * columns
                for y in max(0, dy)..<min(rows, rows + dy) {
                    let from = base + (y - dy) * columns
                    let to = base + y * columns
                    for x in max(0, dx)..<min(columns, columns + dx) { out[to + x] = source[from + x - dx] }
                }
            }
        }
        return Tensor(shape: batch.shape, scalars: out)
    }
}

/// A learning rate per optimisation step.
public enum LearningRateSchedule: Sendable, Equatable {
    /// The same rate throughout.
    case constant
    /// Half a cosine from the base rate down to `floor` × base over all steps.
    case cosine(floor: Float)

    /// The rate at `step` of `total` steps for a base rate `base`.
    public func rate(base: Float, step: Int, total: Int) -> Float {
        switch self {
        case .constant: return base
        case .cosine(let floor):
            guard total > 1 else { return base }
            let progress = Float(min(step, total - 1)) / Float(total - 1)
            let cosine = 0.5 * (1 + cos(Float.pi * progress))
            return base * (floor + (1 - floor) * cosine)
        }
    }
}
