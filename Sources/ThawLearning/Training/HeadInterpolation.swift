/// A personal head pulled back part of the way to the head it was trained from: `anchor + weight · (trained − anchor)`.
///
/// Why: with a dozen samples a trained head moves far in directions the user's samples do not pin down, and
/// those directions are where it turns right answers of the general head into wrong ones. Interpolating the
/// weights (as WiSE-FT does for fine-tuned models) keeps the direction the user's samples asked for and halves
/// (at 0.5) the step; measured in docs/LEARNING.md, it is the regulariser that made fewest writers worse.
public enum HeadInterpolation {
    /// `anchor + weight · (trained − anchor)`, element-wise; weight 1 returns `trained`, 0 returns `anchor`.
    public static func interpolate(anchor: [Float], trained: [Float], weight: Float) -> [Float] {
        precondition(anchor.count == trained.count, "anchor of \(anchor.count) for a head of \(trained.count)")
        precondition(weight >= 0 && weight <= 1, "the interpolation weight must be in [0, 1]")
        if weight == 1 { return trained }
        return zip(anchor, trained).map { a, t in a + weight * (t - a) }
    }
}
