import CLibZMQ

/// Frames at least this large are handed to libzmq without a copy (`zmq_msg_init_data`); smaller
/// ones are copied by `zmq_send`, which is cheaper than the extra allocation and callback.
let zeroCopyThreshold = 32 * 1024

/// Frames at most this large are copied out of a received message into a `[UInt8]`; larger ones
/// keep the `zmq_msg_t` itself so nothing is copied after libzmq's read off the wire.
let copyOutThreshold = 1024

/// Keeps a `[UInt8]` alive while libzmq owns a message built over its storage.
private final class RetainedBytes {
    let bytes: [UInt8]
    init(_ bytes: [UInt8]) { self.bytes = bytes }
}

/// Called by libzmq (on an I/O thread) when it no longer needs the bytes.
private let releaseRetainedBytes: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = {
    _, hint in
    Unmanaged<RetainedBytes>.fromOpaque(hint!).release()
}

extension ZMQSocket {
    /// Sends one frame; `more` marks it as a non-final part of a multipart message.
    ///
    /// Frames of at least 32 KiB built from a `[UInt8]` are not copied: libzmq holds the array's
    /// storage until it has written it. Received frames are forwarded by reference.
    /// - Returns: ``SendOutcome/wouldBlock`` when `mode` is `.dontWait` and the queue is full (high-water
    ///   mark) or there is no peer, or when the send timeout passed.
    /// - Throws: ``ZMQError`` for everything else (`hostUnreachable`, `invalidState`, `contextTerminated`).
    @discardableResult
    public func send(_ frame: Frame, more: Bool = false, mode: TransferMode = .wait) throws(ZMQError) -> SendOutcome {
        let flags = mode.flags | (more ? ZMQ_SNDMORE : 0)
        switch frame.storage {
        case .bytes(let bytes) where bytes.count >= zeroCopyThreshold:
            return try sendWithoutCopy(bytes, flags: flags)
        case .bytes(let bytes):
            // Array.withUnsafeBytes is untyped-rethrows, so carry the typed error out in a Result.
            let result = bytes.withUnsafeBytes { buffer in
                Result { () throws(ZMQError) in try sendCopying(buffer, flags: flags) }
            }
            return try result.get()
        case .message(let message):
            return try withHandle { (handle) throws(ZMQError) -> SendOutcome in
                // `sendScratch` is empty here (a send leaves it empty, a failed one closes it), so no
                // per-send allocation: zmq_msg_copy shares large content by reference count and copies
                // only the ≤ 33 bytes of a very small message.
                zmq_msg_init(sendScratch)
                _ = zmq_msg_copy(sendScratch, message.pointer)
                return try withExtendedLifetime(message) { () throws(ZMQError) -> SendOutcome in
                    try sendMessage(sendScratch, handle: handle, flags: flags)
                }
            }
        }
    }

    /// Sends a multipart message: every frame but the last carries `ZMQ_SNDMORE`.
    ///
    /// Only the first part can report would-block: libzmq delivers multipart messages atomically and
    /// accepts the remaining parts once the first is queued.
    /// - Returns: ``SendOutcome/wouldBlock`` as for ``send(_:more:mode:)``; nothing was sent then.
    /// - Throws: ``ZMQError``.
    @discardableResult
    public func send(_ frames: [Frame], mode: TransferMode = .wait) throws(ZMQError) -> SendOutcome {
        precondition(!frames.isEmpty, "a ZeroMQ message has at least one frame")
        for (index, frame) in frames.enumerated() {
            let more = index < frames.count - 1
            let outcome = try send(frame, more: more, mode: index == 0 ? mode : .wait)
            if outcome == .wouldBlock {
                if index == 0 { return .wouldBlock }
                throw ZMQError(code: .wouldBlock, errno: 0, operation: "zmq_send(part \(index))")
            }
        }
        return .sent
    }

    /// Sends `bytes` as one frame; libzmq copies them once, so the caller may reuse the buffer at once.
    /// Use this to send a tensor straight from its storage.
    /// - Returns: ``SendOutcome/wouldBlock`` as for ``send(_:more:mode:)``.
    /// - Throws: ``ZMQError``.
    @discardableResult
    public func send(
        bytes: UnsafeRawBufferPointer,
        more: Bool = false,
        mode: TransferMode = .wait
    ) throws(ZMQError) -> SendOutcome {
        try sendCopying(bytes, flags: mode.flags | (more ? ZMQ_SNDMORE : 0))
    }

    private func sendCopying(_ buffer: UnsafeRawBufferPointer, flags: Int32) throws(ZMQError) -> SendOutcome {
        try withHandle { (handle) throws(ZMQError) -> SendOutcome in
            let outcome = try ZMQCall.runAllowingWouldBlock("zmq_send(\(kind))") {
                zmq_send(handle, buffer.baseAddress, buffer.count, flags)
            }
            return outcome == .wouldBlock ? .wouldBlock : .sent
        }
    }

    private func sendWithoutCopy(_ bytes: [UInt8], flags: Int32) throws(ZMQError) -> SendOutcome {
        try withHandle { (handle) throws(ZMQError) -> SendOutcome in
            // A heap slot: an initialised zmq_msg_t must not move.
            let pointer = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
            defer { pointer.deallocate() }
            do {
                let box = RetainedBytes(bytes)
                // The array buffer is retained by `box` and never mutated, so its address is stable
                // until libzmq calls `releaseRetainedBytes` from its I/O thread.
                let data = box.bytes.withUnsafeBytes { UnsafeMutableRawPointer(mutating: $0.baseAddress!) }
                let hint = Unmanaged.passRetained(box).toOpaque()
                do throws(ZMQError) {
                    _ = try ZMQCall.run("zmq_msg_init_data") {
                        zmq_msg_init_data(pointer, data, bytes.count, releaseRetainedBytes, hint)
                    }
                } catch {
                    Unmanaged<RetainedBytes>.fromOpaque(hint).release()
                    throw error
                }
                return try sendMessage(pointer, handle: handle, flags: flags)
            }
        }
    }

    /// Sends an initialised message; closes it if libzmq did not take it.
    private func sendMessage(
        _ message: UnsafeMutablePointer<zmq_msg_t>,
        handle: UnsafeMutableRawPointer,
        flags: Int32
    ) throws(ZMQError) -> SendOutcome {
        let outcome: ZMQCall.Outcome
        do {
            outcome = try ZMQCall.runAllowingWouldBlock("zmq_msg_send(\(kind))") {
                zmq_msg_send(message, handle, flags)
            }
        } catch {
            zmq_msg_close(message)
            throw error
        }
        if outcome == .wouldBlock {
            zmq_msg_close(message)
            return .wouldBlock
        }
        return .sent
    }
}
