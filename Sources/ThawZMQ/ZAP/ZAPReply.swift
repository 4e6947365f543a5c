/// The handler's answer to one ``ZAPRequest`` (RFC 27): a status and, on success, the user id that
/// libzmq then attaches to every message of the connection as the `User-Id` property
/// (``MessageMetadata/userID``).
public struct ZAPReply: Sendable, Hashable {
    /// RFC 27 status codes.
    public enum Status: String, Sendable, Hashable {
        /// Success: the connection proceeds.
        case success = "200"
        /// Temporary error: the client may retry later.
        case temporaryError = "300"
        /// Authentication failure: the connection is refused.
        case authenticationFailure = "400"
        /// Internal error (e.g. a malformed request).
        case internalError = "500"
    }

    public var requestID: [UInt8]
    public var status: Status
    /// Human-readable; libzmq reports it in monitor events only.
    public var statusText: String
    /// The authenticated identity, empty on failure.
    public var userID: String

    public init(requestID: [UInt8], status: Status, statusText: String, userID: String = "") {
        self.requestID = requestID
        self.status = status
        self.statusText = statusText
        self.userID = userID
    }

    /// Accepts the request as `userID`.
    public static func accept(_ request: ZAPRequest, as userID: String) -> ZAPReply {
        ZAPReply(requestID: request.requestID, status: .success, statusText: "OK", userID: userID)
    }

    /// Refuses the request.
    public static func refuse(_ request: ZAPRequest, because reason: String) -> ZAPReply {
        ZAPReply(requestID: request.requestID, status: .authenticationFailure, statusText: reason)
    }

    /// The reply frames: version, request id, status code, status text, user id, metadata (empty).
    public var frames: [Frame] {
        [
            Frame(ZAPRequest.version), Frame(requestID), Frame(status.rawValue), Frame(statusText), Frame(userID),
            Frame.empty,
        ]
    }
}
