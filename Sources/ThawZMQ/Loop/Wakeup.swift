import CLibZMQ

#if canImport(Glibc)
import Glibc
#endif

/// An eventfd that wakes the loop thread's `zmq_poll` (libzmq polls plain fds next to sockets).
///
/// - Thread rule: ``signal()`` from any thread; ``drain()`` only on the loop thread.
/// - Ownership: the ``SocketLoop`` scope creates it and closes it after joining the thread.
final class Wakeup: Sendable {
    let fileDescriptor: Int32

    init() throws(ZMQError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else {
            throw ZMQError(code: .tooManySockets, errno: 0, operation: "eventfd")
        }
        fileDescriptor = fd
    }

    /// Makes the fd readable; cheap and never blocks (the counter saturates far beyond our use).
    func signal() {
        _ = eventfd_write(fileDescriptor, 1)
    }

    /// Resets the fd to not readable. zmq_poll is level-triggered, so an undrained fd spins the loop.
    func drain() {
        var value: eventfd_t = 0
        _ = eventfd_read(fileDescriptor, &value)
    }

    func close() {
        _ = Glibc.close(fileDescriptor)
    }
}
