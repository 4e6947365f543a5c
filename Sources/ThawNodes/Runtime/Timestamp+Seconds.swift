extension Timestamp {
    /// This instant in seconds since the clock's zero, for the radio meter's arithmetic.
    public var secondsSinceZero: Double { Double(milliseconds) / 1000 }
}
