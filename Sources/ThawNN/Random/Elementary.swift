/// `exp` and `log` in Double, written out because ThawNN imports neither Foundation nor libm.
///
/// Both reduce the argument by powers of two and sum a short series; the relative error is below 1e-15 over
/// the range used here (softmax logits, initialisation), which the tests check against Foundation. Writing
/// them here also makes results identical on every platform.
public enum Elementary {
    private static let ln2 = 0.693_147_180_559_945_309_417_232_121_458

    /// e raised to `x`. Returns 0 below about -745 and +infinity above about 709.
    public static func exp(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x > 709.78 { return .infinity }
        if x < -745.2 { return 0 }
        // x = n·ln2 + r with |r| <= ln2/2, then exp(x) = 2^n · exp(r).
        let n = (x / ln2).rounded()
        let r = x - n * ln2
        // Taylor series of exp(r) to degree 16, Horner form; |r| < 0.35 makes the remainder negligible.
        var sum = 1.0
        var degree = 16.0
        while degree >= 1 {
            sum = 1 + sum * r / degree
            degree -= 1
        }
        return scale(sum, byPowerOfTwo: Int(n))
    }

    /// The natural logarithm of `x`. Returns NaN below 0 and -infinity at 0.
    public static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x.isInfinite { return x }
        // x = m · 2^e with m in [1/√2, √2), then log x = e·ln2 + 2·atanh((m-1)/(m+1)).
        var e = Double(x.exponent)
        var m = x.significand
        if m > 1.414_213_562_373_095 {
            m /= 2
            e += 1
        }
        let t = (m - 1) / (m + 1)
        let t2 = t * t
        // atanh(t) = t + t³/3 + t⁵/5 + ...; |t| < 0.172 so 14 terms reach full Double precision.
        var sum = 0.0
        var k = 27.0
        while k >= 1 {
            sum = 1 / k + t2 * sum
            k -= 2
        }
        return e * ln2 + 2 * t * sum
    }

    private static func scale(_ value: Double, byPowerOfTwo n: Int) -> Double {
        // Two steps so that 2^n alone never overflows or underflows before the product is formed.
        let half = n / 2
        return value * Double(sign: .plus, exponent: half, significand: 1)
            * Double(sign: .plus, exponent: n - half, significand: 1)
    }
}
