/// Upper bounds a decoder enforces before it allocates or copies anything.
///
/// They protect a server from a peer (buggy or hostile) that declares huge tensors or sends huge
/// frames. The defaults fit Thaw's workloads with a wide margin: a feature batch of 1,024 samples of
/// 4,096 floats is 16 MiB.
public struct WireLimits: Sendable, Equatable {
    /// Largest accepted `Envelope` header frame.
    public var maxHeaderBytes: Int
    /// Most frames in one message, topic frame included.
    public var maxFrames: Int
    /// Largest accepted single tensor or blob frame.
    public var maxTensorBytes: Int
    /// Largest accepted message, all frames together.
    public var maxTotalBytes: Int
    /// Most dimensions of a tensor shape.
    public var maxRank: Int
    /// Largest single dimension of a tensor shape.
    public var maxDimension: UInt64

    public init(
        maxHeaderBytes: Int = 4 << 20,
        maxFrames: Int = 16,
        maxTensorBytes: Int = 64 << 20,
        maxTotalBytes: Int = 128 << 20,
        maxRank: Int = 8,
        maxDimension: UInt64 = 1 << 31
    ) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxFrames = maxFrames
        self.maxTensorBytes = maxTensorBytes
        self.maxTotalBytes = maxTotalBytes
        self.maxRank = maxRank
        self.maxDimension = maxDimension
    }

    /// The largest single frame these limits accept (a header or one tensor). Nodes set a socket's
    /// `ZMQ_MAXMSGSIZE`, which libzmq applies per frame, to this, so a bigger frame is dropped by libzmq
    /// before it is buffered.
    public var maxFrameBytes: Int { max(maxHeaderBytes, maxTensorBytes) }

    /// 4 MiB header, 16 frames, 64 MiB per tensor, 128 MiB per message, rank ≤ 8, dims ≤ 2³¹.
    public static let `default` = WireLimits()
}
