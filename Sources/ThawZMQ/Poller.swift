import CLibZMQ

/// The readiness a ``Poller`` watches for and reports.
public struct PollEvents: OptionSet, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// A message can be received (socket) or the fd is readable.
    public static let readable = PollEvents(rawValue: Int16(ZMQ_POLLIN))
    /// A message can be sent without blocking (socket) or the fd is writable.
    public static let writable = PollEvents(rawValue: Int16(ZMQ_POLLOUT))
    /// An error condition on a plain fd.
    public static let error = PollEvents(rawValue: Int16(ZMQ_POLLERR))
}

/// `zmq_poll` over sockets and plain file descriptors; level-triggered.
///
/// - Thread rule: like its sockets, a poller lives on one thread (Sendable is unavailable).
/// - Ownership: it holds strong references to its sockets but does not close them; closing a
///   registered socket and polling again traps.
public final class Poller {
    private var items: [zmq_pollitem_t] = []
    private var sockets: [ZMQSocket?] = []

    public init() {}

    /// Registers `socket`; returns its index in ``poll(timeout:)`` results.
    @discardableResult
    public func add(_ socket: ZMQSocket, events: PollEvents = .readable) -> Int {
        let handle = socket.withHandle { $0 }
        items.append(zmq_pollitem_t(socket: handle, fd: -1, events: events.rawValue, revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Registers a plain file descriptor (an eventfd, a pipe); returns its index.
    @discardableResult
    public func add(fileDescriptor: Int32, events: PollEvents = .readable) -> Int {
        items.append(zmq_pollitem_t(socket: nil, fd: fileDescriptor, events: events.rawValue, revents: 0))
        sockets.append(nil)
        return items.count - 1
    }

    /// Changes the events watched for item `index` (e.g. add `.writable` while output is pending).
    public func setEvents(_ events: PollEvents, at index: Int) {
        items[index].events = events.rawValue
    }

    /// Waits until an item is ready or `timeout` passes (`nil`: forever; blocking, so never call it
    /// from the cooperative pool).
    /// - Returns: the ready items as (index, events); empty when the timeout passed.
    /// - Throws: ``ZMQError`` (`contextTerminated` when a socket's context is terminated).
    public func poll(timeout: Duration?) throws(ZMQError) -> [(index: Int, events: PollEvents)] {
        for socket in sockets {
            precondition(socket?.isClosed != true, "Poller polled a closed socket")
        }
        let milliseconds: Int
        if let timeout {
            let (seconds, attoseconds) = timeout.components
            milliseconds = Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
        } else {
            milliseconds = -1
        }
        let count = items.count
        let ready = try items.withUnsafeMutableBufferPointer { (buffer) -> Result<Int32, ZMQError> in
            Result { () throws(ZMQError) in
                try ZMQCall.run("zmq_poll") { zmq_poll(buffer.baseAddress, Int32(count), milliseconds) }
            }
        }.get()
        guard ready > 0 else { return [] }
        var result: [(index: Int, events: PollEvents)] = []
        for (index, item) in items.enumerated() where item.revents != 0 {
            result.append((index, PollEvents(rawValue: item.revents)))
        }
        return result
    }
}

@available(*, unavailable, message: "Poller holds sockets, which are bound to one thread")
extension Poller: Sendable {}
