/// Semantic checks shared by the payload mappings; each throws a ``WireError`` naming the field.
enum Require {
    /// - Throws: `.missingField` when `value` is empty.
    static func nonEmpty(_ value: String, _ field: String) throws(WireError) {
        if value.isEmpty { throw WireError(.missingField, "\(field) is empty") }
    }

    /// - Throws: `.missingField` when the sub-message is unset.
    static func present(_ isSet: Bool, _ field: String) throws(WireError) {
        if !isSet { throw WireError(.missingField, "\(field) is not set") }
    }

    /// - Throws: `.invalidField` when the counts differ.
    static func sameCount(_ field: String, _ count: Int, _ other: String, _ otherCount: Int) throws(WireError) {
        if count != otherCount {
            throw WireError(.invalidField, "\(field) has \(count) entries but \(other) has \(otherCount)")
        }
    }
}
