/// How the deployment protects its tcp endpoints (`security:`; docs/SECURITY.md).
///
/// CURVE is on unless a topology says `curve: off`: every tcp endpoint is a CURVE server whose
/// clients must hold a key listed in the allowlist, and every tcp connection is encrypted. `ipc://`
/// and `inproc://` endpoints stay plain: they never leave the machine, and file permissions guard them.
public struct SecuritySettings: Hashable, Sendable {
    /// Encrypt and authenticate tcp endpoints with CURVE (`curve: on | off`, default on).
    public var curve: Bool = true
    /// The folder with key files: `<node>.key` (public) for every node that binds tcp, and
    /// `<node>.key_secret` for the node that runs here (`keys`). Nil: the command's `--keys`, else
    /// `thaw-out/keys` (where `thaw up` generates them).
    public var keys: String? = nil
    /// The allowlist file the cloud side checks clients against (`allowlist`); nil: `<keys>/allowlist`.
    public var allowlist: String? = nil

    public init(curve: Bool = true, keys: String? = nil, allowlist: String? = nil) {
        self.curve = curve
        self.keys = keys
        self.allowlist = allowlist
    }

    /// Whether CURVE protects `endpoint`: tcp, with `curve` on.
    public func protects(_ endpoint: EndpointAddress) -> Bool {
        curve && endpoint.transport == .tcp
    }
}
