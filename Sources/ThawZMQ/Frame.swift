import CLibZMQ

/// One part of a ZeroMQ message. A multipart message is `[Frame]`.
///
/// A frame either owns Swift bytes (built by the sender) or a received `zmq_msg_t` (built by
/// ``ZMQSocket/receiveFrame(_:)``), so receiving a large frame copies nothing after libzmq's own
/// copy off the wire, and sending a large `[UInt8]` hands its storage to libzmq without a copy.
///
/// - Thread rule: a `Frame` is an immutable value and `Sendable`.
/// - Ownership: a received frame keeps its `zmq_msg_t` alive until the last copy of the frame is
///   dropped; bytes passed to ``withUnsafeBytes(_:)`` must not escape the closure.
public struct Frame: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Sendable {
        case bytes([UInt8])
        case message(ReceivedMessage)
    }

    let storage: Storage

    /// A frame over `bytes`. Large arrays are sent without copying (see ``ZMQSocket/send(_:_:)``).
    public init(_ bytes: [UInt8]) {
        storage = .bytes(bytes)
    }

    /// A frame holding the UTF-8 bytes of `string` (topics, identities, test payloads).
    public init(_ string: String) {
        storage = .bytes(Array(string.utf8))
    }

    init(message: ReceivedMessage) {
        storage = .message(message)
    }

    /// A frame whose bytes are copied once into a libzmq message, for a frame sent many times.
    ///
    /// Each send then shares that message by reference count (`zmq_msg_copy`): no byte copy and no
    /// allocation per send, where `Frame([UInt8])` below 32 KiB pays `zmq_send`'s allocation and copy
    /// every time. Very small frames (≤ 33 bytes, libzmq's inline size) are copied inline instead.
    public init(sharing bytes: UnsafeRawBufferPointer) {
        let pointer = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)
        // zmq_msg_init_size fails only with ENOMEM; an allocation failure traps like Swift's own.
        precondition(zmq_msg_init_size(pointer, bytes.count) == 0, "zmq_msg_init_size(\(bytes.count)) failed")
        if let source = bytes.baseAddress, bytes.count > 0 {
            zmq_msg_data(pointer).copyMemory(from: source, byteCount: bytes.count)
        }
        storage = .message(ReceivedMessage(taking: pointer))
    }

    /// ``init(sharing:)`` over an array (a static function, so that `Frame.init` over `[UInt8]` stays unambiguous).
    public static func sharing(_ bytes: [UInt8]) -> Frame {
        bytes.withUnsafeBytes { Frame(sharing: $0) }
    }

    /// An empty frame, e.g. the delimiter REQ/REP put in front of a request.
    public static let empty = Frame([])

    /// The number of bytes.
    public var count: Int {
        switch storage {
        case .bytes(let bytes): bytes.count
        case .message(let message): message.count
        }
    }

    /// Calls `body` with the frame's bytes, without copying them.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        switch storage {
        case .bytes(let bytes):
            // Not `bytes.withUnsafeBytes(body)`: that would lose the typed error.
            let buffer = bytes.withUnsafeBytes { $0 }
            return try withExtendedLifetime(bytes) { () throws(E) -> R in try body(buffer) }
        case .message(let message):
            return try withExtendedLifetime(message) { () throws(E) -> R in try body(message.buffer) }
        }
    }

    /// The bytes as an array (no copy for frames built from an array, one copy for received ones).
    public var bytes: [UInt8] {
        switch storage {
        case .bytes(let bytes): bytes
        case .message(let message): Array(message.buffer)
        }
    }

    /// The bytes decoded as UTF-8, or `nil` if they are not valid UTF-8.
    public var string: String? {
        withUnsafeBytes { String(validating: $0, as: UTF8.self) }
    }

    public static func == (lhs: Frame, rhs: Frame) -> Bool {
        lhs.withUnsafeBytes { left in rhs.withUnsafeBytes { right in left.elementsEqual(right) } }
    }

    public func hash(into hasher: inout Hasher) {
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public var description: String {
        if count <= 64, let string, string.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7f }) {
            return "Frame(\"\(string)\")"
        }
        return "Frame(\(count) bytes)"
    }
}

/// A received `zmq_msg_t`, read-only after `zmq_msg_recv` returned, closed when the last frame
/// referencing it goes away.
final class ReceivedMessage: @unchecked Sendable {
    // Safe to share: the message is never written after the receive; zmq_msg_close of a distinct
    // message is thread-safe (shared content is reference-counted atomically by libzmq).
    let pointer: UnsafeMutablePointer<zmq_msg_t>
    let count: Int

    /// Takes ownership of an initialised, received message at a fixed heap address.
    init(taking pointer: UnsafeMutablePointer<zmq_msg_t>) {
        self.pointer = pointer
        self.count = zmq_msg_size(pointer)
        // The first zmq_msg_copy of a large message writes the source (it marks the content shared and
        // sets its reference count) without a lock. Doing that once here, on the owning thread, leaves
        // later copies (sends of this frame from any thread) with only libzmq's atomic increment.
        withUnsafeTemporaryAllocation(of: zmq_msg_t.self, capacity: 1) { slot in
            let probe = slot.baseAddress!
            zmq_msg_init(probe)
            _ = zmq_msg_copy(probe, pointer)
            zmq_msg_close(probe)
        }
    }

    var buffer: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: zmq_msg_data(pointer), count: count)
    }

    deinit {
        zmq_msg_close(pointer)
        pointer.deallocate()
    }
}
