import Foundation

/// A minimal hand-written SVG line chart (log or linear axes), enough for the evaluation report.
struct SVGPlot {
    struct Series {
        var name: String
        var color: String
        var points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var logX = false
    var logY = false
    var series: [Series]

    private let width = 640.0
    private let height = 400.0
    private let left = 80.0
    private let right = 170.0
    private let top = 40.0
    private let bottom = 60.0

    func render() -> String {
        let all = series.flatMap(\.points).filter { (!logX || $0.x > 0) && (!logY || $0.y > 0) }
        guard !all.isEmpty else { return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>" }
        let tx: (Double) -> Double = { logX ? log10($0) : $0 }
        let ty: (Double) -> Double = { logY ? log10($0) : $0 }
        var (x0, x1) = (all.map { tx($0.x) }.min()!, all.map { tx($0.x) }.max()!)
        var (y0, y1) = (all.map { ty($0.y) }.min()!, all.map { ty($0.y) }.max()!)
        if !logY { y0 = min(y0, 0) }
        if x1 - x0 < 1e-12 { x1 = x0 + 1; x0 -= 1 }
        if y1 - y0 < 1e-12 { y1 = y0 + 1; y0 -= 1 }
        let plotW = width - left - right
        let plotH = height - top - bottom
        func px(_ x: Double) -> Double { left + (tx(x) - x0) / (x1 - x0) * plotW }
        func py(_ y: Double) -> Double { top + plotH - (ty(y) - y0) / (y1 - y0) * plotH }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2 - right / 2)" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>
            <line x1="\(left)" y1="\(top + plotH)" x2="\(left + plotW)" y2="\(top + plotH)" stroke="black"/>
            <line x1="\(left)" y1="\(top)" x2="\(left)" y2="\(top + plotH)" stroke="black"/>

            """
        for i in 0...4 {
            let fx = x0 + (x1 - x0) * Double(i) / 4
            let fy = y0 + (y1 - y0) * Double(i) / 4
            let xv = logX ? pow(10, fx) : fx
            let yv = logY ? pow(10, fy) : fy
            let xp = left + plotW * Double(i) / 4
            let yp = top + plotH - plotH * Double(i) / 4
            svg += "<text x=\"\(xp)\" y=\"\(top + plotH + 16)\" text-anchor=\"middle\">\(Self.format(xv))</text>\n"
            svg += "<text x=\"\(left - 6)\" y=\"\(yp + 4)\" text-anchor=\"end\">\(Self.format(yv))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(yp)\" x2=\"\(left + plotW)\" y2=\"\(yp)\" stroke=\"#ddd\"/>\n"
        }
        svg += "<text x=\"\(left + plotW / 2)\" y=\"\(height - 18)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        svg +=
            "<text x=\"18\" y=\"\(top + plotH / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \(top + plotH / 2))\">\(escape(yLabel))</text>\n"
        for (index, line) in series.enumerated() {
            let points = line.points.filter { (!logX || $0.x > 0) && (!logY || $0.y > 0) }
            let path = points.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
            svg += "<polyline fill=\"none\" stroke=\"\(line.color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            for point in points {
                svg += "<circle cx=\"\(px(point.x))\" cy=\"\(py(point.y))\" r=\"3\" fill=\"\(line.color)\"/>\n"
            }
            let ly = top + 14 + Double(index) * 18
            svg +=
                "<line x1=\"\(width - right + 12)\" y1=\"\(ly - 4)\" x2=\"\(width - right + 32)\" y2=\"\(ly - 4)\" stroke=\"\(line.color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(width - right + 36)\" y=\"\(ly)\">\(escape(line.name))</text>\n"
        }
        return svg + "</svg>\n"
    }

    static func format(_ value: Double) -> String {
        let magnitude = abs(value)
        if magnitude >= 1e6 { return String(format: "%.3gM", value / 1e6) }
        if magnitude >= 1e3 { return String(format: "%.3gk", value / 1e3) }
        return String(format: "%.3g", value)
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
    }
}
