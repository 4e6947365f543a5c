import ThawWire

extension InputViolation.Reason {
    /// A feature batch whose activations travel in another encoding than its hyper-parameter stamp names.
    public static let wrongEncoding = Self(rawValue: "wrongEncoding")
}

/// The worker's check that a batch's activations came in the encoding its stamp names.
///
/// The stamp (`hyper_hash`, see ``ActivationEncoding``) is compared with the worker's deployment by
/// ``StaleBatchFence``; this check ties the frame to the stamp, so a batch that passed both was
/// uploaded in exactly the deployment's encoding. A stamp whose suffix does not parse (an unknown
/// encoding, or a malformed or out-of-range `+noise:` part, ``UploadRule``) is refused here too. A mismatch is a broken client, not a stale one:
/// resending the same bytes cannot help, so the batch is refused and never stored or acknowledged.
public enum ActivationEncodingFence {
    /// `nil` when the batch travelled in the encoding its stamp names, else why not.
    public static func check(_ batch: ThawWire.FeatureBatch) -> InputViolation? {
        guard let named = ActivationEncoding(stamp: batch.hyperHash) else {
            return InputViolation(
                .wrongEncoding,
                "batch \(batch.deviceID)#\(batch.deviceSeq): stamp \(batch.hyperHash) names no activation encoding (or noise) this worker knows")
        }
        guard named == batch.activationEncoding else {
            return InputViolation(
                .wrongEncoding,
                "batch \(batch.deviceID)#\(batch.deviceSeq): activations travel as \(batch.activationEncoding), "
                    + "but its stamp names \(named)")
        }
        return nil
    }
}
