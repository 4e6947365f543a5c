import Foundation

/// A small parser of the Prometheus text format (0.0.4), strict enough to catch what a scraper rejects:
/// samples of one family together after its `# TYPE`, names and label names well formed, values numbers.
public enum PrometheusText {
    public struct Sample: Equatable, Sendable {
        public var labels: [String: String]
        public var value: Double
    }
    public struct Malformed: Error, CustomStringConvertible {
        public var line: String
        public var description: String { "malformed exposition line: \(line)" }
    }

    public static func parse(_ text: String) throws -> [String: [Sample]] {
        var result: [String: [Sample]] = [:]
        var typed: [String: String] = [:]
        var finished: Set<String> = []
        var current: String?
        let name = try Regex(#"^[a-zA-Z_:][a-zA-Z0-9_:]*$"#)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) where !line.isEmpty {
            if line.hasPrefix("# HELP ") { continue }
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                guard parts.count == 4, typed[String(parts[2])] == nil,
                    ["counter", "gauge", "untyped", "histogram", "summary"].contains(parts[3])
                else { throw Malformed(line: String(line)) }
                if let current { finished.insert(current) }
                current = String(parts[2])
                typed[String(parts[2])] = String(parts[3])
                continue
            }
            var rest = Substring(line)
            let metric = String(rest.prefix { $0 != "{" && $0 != " " })
            rest = rest.dropFirst(metric.count)
            guard (try? name.wholeMatch(in: metric)) != nil, metric == current, !finished.contains(metric) else {
                throw Malformed(line: String(line))
            }
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    let key = String(rest.prefix { $0 != "=" })
                    rest = rest.dropFirst(key.count)
                    guard rest.hasPrefix("=\""), (try? name.wholeMatch(in: key)) != nil else { throw Malformed(line: String(line)) }
                    rest = rest.dropFirst(2)
                    var value = ""
                    while let c = rest.first, c != "\"" {
                        rest = rest.dropFirst()
                        if c == "\\" {
                            guard let escaped = rest.first else { throw Malformed(line: String(line)) }
                            rest = rest.dropFirst()
                            value.append(escaped == "n" ? "\n" : escaped)
                        } else {
                            value.append(c)
                        }
                    }
                    guard rest.first == "\"" else { throw Malformed(line: String(line)) }
                    rest = rest.dropFirst()
                    labels[key] = value
                    if rest.first == "," { rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            }
            guard rest.first == " " else { throw Malformed(line: String(line)) }
            let token = rest.dropFirst()
            let value: Double? = switch token {
            case "NaN": .nan
            case "+Inf": .infinity
            case "-Inf": -.infinity
            default: Double(token)
            }
            guard let value else { throw Malformed(line: String(line)) }
            result[metric, default: []].append(Sample(labels: labels, value: value))
        }
        return result
    }
}
