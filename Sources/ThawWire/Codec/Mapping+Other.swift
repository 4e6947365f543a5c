// Metrics and error replies ⇄ generated protobuf types.

extension MetricsReport {
    init(_ proto: Thaw_V1_Metrics) throws(WireError) {
        try Require.nonEmpty(proto.node, "metrics.node")
        try Require.nonEmpty(proto.role, "metrics.role")
        self.init(
            node: proto.node, role: proto.role, timestampMs: proto.timestampMs, gauges: proto.gauges,
            counters: proto.counters, labels: proto.labels
        )
    }

    var proto: Thaw_V1_Metrics {
        var proto = Thaw_V1_Metrics()
        proto.node = node
        proto.role = role
        proto.timestampMs = timestampMs
        proto.gauges = gauges
        proto.counters = counters
        proto.labels = labels
        return proto
    }
}

extension ErrorReply {
    init(_ proto: Thaw_V1_ErrorReply) throws(WireError) {
        let code: Code
        switch proto.code {
        case .malformed: code = .malformed
        case .unsupported: code = .unsupported
        case .notFound: code = .notFound
        case .internal: code = .internal
        case .unavailable: code = .unavailable
        case .forbidden: code = .forbidden
        case .unspecified: throw WireError(.missingField, "error_reply.code is unspecified")
        case .UNRECOGNIZED(let raw): throw WireError(.invalidField, "error_reply.code \(raw) is unknown")
        }
        self.init(code: code, message: proto.message, inReplyToSequence: proto.inReplyToSequence)
    }

    var proto: Thaw_V1_ErrorReply {
        var proto = Thaw_V1_ErrorReply()
        proto.code =
            switch code {
            case .malformed: .malformed
            case .unsupported: .unsupported
            case .notFound: .notFound
            case .internal: .internal
            case .unavailable: .unavailable
            case .forbidden: .forbidden
            }
        proto.message = message
        proto.inReplyToSequence = inReplyToSequence
        return proto
    }
}
