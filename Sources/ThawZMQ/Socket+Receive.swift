import CLibZMQ

extension ZMQSocket {
    /// Receives one frame of any size (`zmq_msg_recv`, never truncated).
    /// - Returns: the frame, or `nil` when `mode` is `.dontWait` and nothing is queued, or when the
    ///   receive timeout (``SocketOption/receiveTimeout(_:)``) passed.
    /// - Throws: ``ZMQError`` (`contextTerminated`, `invalidState`, ...).
    public func receiveFrame(_ mode: TransferMode = .wait) throws(ZMQError) -> Frame? {
        guard try receiveIntoScratch(mode) else { return nil }
        return takeScratchFrame()
    }

    /// The frame just received into `scratch`, copied out when small, moved out when large.
    private func takeScratchFrame() -> Frame {
        let size = zmq_msg_size(scratch)
        if size <= copyOutThreshold {
            let bytes = [UInt8](UnsafeRawBufferPointer(start: zmq_msg_data(scratch), count: size))
            return Frame(bytes)
        }
        let owned = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        zmq_msg_init(owned)
        // zmq_msg_move transfers the content without copying and leaves `scratch` empty.
        zmq_msg_move(owned, scratch)
        return Frame(message: ReceivedMessage(taking: owned))
    }

    /// Receives a whole multipart message with the metadata libzmq attached to it (the ZAP User-Id
    /// of an authenticated peer, its address).
    /// - Returns: every part and the metadata read from the first part, or `nil` on would-block or
    ///   timeout (nothing was consumed then).
    /// - Throws: ``ZMQError``.
    public func receiveWithMetadata(_ mode: TransferMode = .wait) throws(ZMQError) -> ([Frame], MessageMetadata)? {
        guard try receiveIntoScratch(mode) else { return nil }
        var metadata = MessageMetadata()
        var frames: [Frame] = []
        while true {
            // Read before the content leaves `scratch`. Look at every part: a ROUTER makes the
            // routing-id part itself, and that part carries none of the connection's properties.
            if metadata.userID == nil { metadata.userID = property("User-Id") }
            if metadata.peerAddress == nil { metadata.peerAddress = property("Peer-Address") }
            frames.append(takeScratchFrame())
            guard hasMoreFrames else { break }
            guard try receiveIntoScratch(.wait) else {
                throw ZMQError(code: .wouldBlock, errno: 0, operation: "zmq_msg_recv(part \(frames.count))")
            }
        }
        return (frames, metadata)
    }

    /// A metadata property of the message in `scratch` (`zmq_msg_gets`), `nil` when absent (libzmq
    /// returns NULL; that is an expected outcome here, not an error).
    private func property(_ name: String) -> String? {
        guard let value = zmq_msg_gets(scratch, name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// Receives a whole multipart message.
    /// - Returns: every part, or `nil` on would-block or timeout (nothing was consumed then: libzmq
    ///   delivers the parts of a message atomically).
    /// - Throws: ``ZMQError``.
    public func receive(_ mode: TransferMode = .wait) throws(ZMQError) -> [Frame]? {
        guard let first = try receiveFrame(mode) else { return nil }
        var frames = [first]
        while hasMoreFrames {
            guard let next = try receiveFrame(.wait) else {
                throw ZMQError(code: .wouldBlock, errno: 0, operation: "zmq_msg_recv(part \(frames.count))")
            }
            frames.append(next)
        }
        return frames
    }

    /// Receives one frame into a per-socket reusable message and lends its bytes to `body`, with no
    /// allocation. For hot loops (benchmarks, decoders that read in place).
    /// - Parameter body: gets the bytes and whether more parts of the same message follow; the
    ///   bytes are only valid inside the closure.
    /// - Returns: `body`'s result, or `nil` on would-block or timeout.
    /// - Throws: ``ZMQError``.
    @inlinable
    public func withNextFrame<R>(
        _ mode: TransferMode = .wait,
        _ body: (UnsafeRawBufferPointer, _ more: Bool) -> R
    ) throws(ZMQError) -> R? {
        // Inlinable so a caller's loop gets a specialised body: an unspecialised generic call per
        // message was a measurable share of a 64-byte message's cost.
        guard try receiveIntoScratch(mode) else { return nil }
        let buffer = UnsafeRawBufferPointer(start: zmq_msg_data(scratch), count: zmq_msg_size(scratch))
        return body(buffer, zmq_msg_more(scratch) != 0)
    }

    /// Whether the last received frame has more parts after it (`ZMQ_RCVMORE`).
    public var hasMoreFrames: Bool {
        withHandle { _ in lastFrameHadMore }
    }

    /// Receives into `scratch`; `false` means would-block or timeout.
    @usableFromInline
    func receiveIntoScratch(_ mode: TransferMode) throws(ZMQError) -> Bool {
        try withHandle { (handle) throws(ZMQError) -> Bool in
            let outcome = try ZMQCall.runAllowingWouldBlock("zmq_msg_recv(\(kind))") {
                zmq_msg_recv(scratch, handle, mode.flags)
            }
            guard outcome != .wouldBlock else { return false }
            // Read now: a large frame's content is moved out of `scratch` afterwards.
            lastFrameHadMore = zmq_msg_more(scratch) != 0
            return true
        }
    }
}
