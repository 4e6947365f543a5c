import Synchronization

/// The last few large float tensors a device process decoded from registry replies, offered to the
/// codec for the next reply (``WireCodec/decode(_:limits:reusing:)``): the phones of one user pull the
/// same head within moments of each other, so at 10,000 phones each 6.4 MB head reply arrived about 200
/// times, and each was allocated (fresh pages from the kernel, zeroed), copied and then compared with
/// the copy the fleet already held. Decoded against the one kept here, an equal reply costs one
/// comparison and shares that array's storage; the fleet's own "same head" comparison and the head
/// checks' "already verified" comparison then find the very same storage and return at once.
///
/// Nothing is assumed: the codec compares the offered array with the frame bit for bit and decodes the
/// frame as usual when they differ. Thread rule: any thread (a `Mutex`); the fleet's decode queue is the
/// only user.
final class RecentTensors: Sendable {
    private struct State {
        /// Newest last.
        var kept: [[Float]] = []
        var offered = 0
        var reused = 0
    }

    private let state = Mutex(State())
    /// Most tensors kept (each up to 6.4 MB; usually also held by the fleet, so shared, not extra).
    let capacity: Int
    /// Smaller tensors are not worth a comparison.
    static let minimumScalars = 16_384

    init(capacity: Int = 4) {
        self.capacity = capacity
    }

    /// A kept tensor of the frame's size whose first values are the frame's (the codec compares the rest).
    func offer(_ frame: [UInt8]) -> [Float]? {
        guard frame.count >= Self.minimumScalars * MemoryLayout<Float>.size else { return nil }
        return state.withLock { state in
            state.offered += 1
            return state.kept.last { candidate in
                candidate.count * MemoryLayout<Float>.size == frame.count
                    && candidate.withUnsafeBytes { floats in
                        frame.withUnsafeBytes { bytes in
                            bytes.loadUnaligned(as: UInt64.self) == floats.loadUnaligned(as: UInt64.self)
                                && bytes.loadUnaligned(fromByteOffset: bytes.count - 8, as: UInt64.self)
                                    == floats.loadUnaligned(fromByteOffset: floats.count - 8, as: UInt64.self)
                        }
                    }
            }
        }
    }

    /// Keeps `scalars` (a tensor just decoded) as the newest; `reused` says it came from ``offer(_:)``.
    func keep(_ scalars: [Float], reused: Bool) {
        guard scalars.count >= Self.minimumScalars else { return }
        state.withLock { state in
            if reused { state.reused += 1 }
            if let at = state.kept.lastIndex(where: { Self.sameStorage($0, scalars) }) {
                state.kept.remove(at: at)
            }
            state.kept.append(scalars)
            if state.kept.count > capacity { state.kept.removeFirst() }
        }
    }

    /// Offers (frames big enough to be compared) and the replies that shared a kept tensor.
    var counts: (offered: Int, reused: Int) { state.withLock { ($0.offered, $0.reused) } }

    /// The kept arrays' storage (address → bytes), for the memory line (shared storage counted once).
    var heldStorage: [UInt: Int] {
        state.withLock { state in
            var held: [UInt: Int] = [:]
            for tensor in state.kept {
                tensor.withUnsafeBytes { if let base = $0.baseAddress { held[UInt(bitPattern: base)] = $0.count } }
            }
            return held
        }
    }

    static func sameStorage(_ a: [Float], _ b: [Float]) -> Bool {
        a.withUnsafeBufferPointer { x in b.withUnsafeBufferPointer { y in x.baseAddress == y.baseAddress } }
    }
}
