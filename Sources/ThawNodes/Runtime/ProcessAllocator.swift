#if canImport(Glibc)
import Glibc
#endif

/// glibc's allocator knobs, set once at a node's start by the policy of its role.
///
/// `malloc.h` is not in Swift's Glibc module, so `mallopt` and `malloc_trim` are looked up by name;
/// on another C library every call is a no-op that reports false.
enum ProcessAllocator {
    /// `mallopt` parameters (malloc.h).
    private enum Parameter: Int32 {
        case trimThreshold = -1
        case mmapThreshold = -3
    }

    /// glibc refuses an mmap threshold above half its largest arena heap: 32 MiB on 64-bit.
    static let largestMmapThreshold = 32 << 20

    /// Sets `M_MMAP_THRESHOLD`: buffers of at least `bytes` get a mapping of their own, unmapped when
    /// freed. Fixing it also stops glibc adapting it (and the trim threshold) at run time.
    @discardableResult
    static func setMmapThreshold(_ bytes: Int) -> Bool { mallopt(.mmapThreshold, bytes) }

    /// Sets `M_TRIM_THRESHOLD`: free memory at the top of a heap is kept up to `bytes`.
    @discardableResult
    static func setTrimThreshold(_ bytes: Int) -> Bool { mallopt(.trimThreshold, bytes) }

    /// The policy of the cloud roles (registry, worker): keep large buffers for reuse.
    ///
    /// Why: every commit moves a multi-megabyte head through several buffers (the received frame, the
    /// decoded parameters, the blob handed to SQLite) and every batch a few hundred KB. With glibc's
    /// adaptive defaults many of those buffers were fresh mappings, each page faulted in, zeroed and
    /// charged on first touch and unmapped again when freed: in `thaw bench system` (2 workers, 32
    /// users) the registry took 289,000 page faults and 49 ms of CPU per head; with buffers up to 32 MiB
    /// served from the heap and 1 GiB of free heap kept, 82,000 and 36 ms (docs/DISTRIBUTED.md). The
    /// cost is resident memory that stays at its peak instead of shrinking between bursts.
    @discardableResult
    static func keepLargeBuffers() -> Bool {
        setMmapThreshold(largestMmapThreshold) && setTrimThreshold(1 << 30)
    }

    /// Gives the free pages of every arena back to the system.
    static func trim() {
        #if canImport(Glibc)
        typealias MallocTrim = @convention(c) (Int) -> Int32
        guard let symbol = symbol("malloc_trim") else { return }
        _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
        #endif
    }

    private static func mallopt(_ parameter: Parameter, _ value: Int) -> Bool {
        #if canImport(Glibc)
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let value = Int32(exactly: value), let symbol = symbol("mallopt") else { return false }
        return unsafeBitCast(symbol, to: Mallopt.self)(parameter.rawValue, value) == 1
        #else
        return false
        #endif
    }

    #if canImport(Glibc)
    private static func symbol(_ name: String) -> UnsafeMutableRawPointer? {
        guard let handle = dlopen(nil, RTLD_NOW) else { return nil }
        return dlsym(handle, name)
    }
    #endif
}
