import ThawWire

/// The `ZMQ_MAXMSGSIZE` each kind of receiving socket gets.
///
/// libzmq checks the limit per frame as it reads from the connection and drops the connection of a
/// peer that exceeds it, so an oversize frame is never buffered, let alone decoded. What is under the
/// limit still goes through ``WireCodec``'s ``WireLimits`` (total bytes, frames, tensor sizes).
enum SocketLimits {
    /// Sockets that take feature batches, head commits or base models: the largest frame the wire
    /// limits accept (a header or one tensor), 64 MiB by default.
    static let dataFrame = WireLimits.default.maxFrameBytes
    /// Sockets that take only small messages: broadcasts, metrics, control commands (1 MiB).
    static let smallFrame = 1 << 20
}
