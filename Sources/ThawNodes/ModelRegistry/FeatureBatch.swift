/// One annotated sample's cached backbone activation, as a device flushes it.
public struct FeatureSample: Hashable, Sendable {
    /// The device's id for the sample (in the simulation, an index into the writer's samples). Unique
    /// within one device's stream; the key that makes advancing a freeze point idempotent.
    public var sampleID: UInt64
    public var label: Int
    public var activations: StoredActivations

    public init(sampleID: UInt64, label: Int, activations: StoredActivations) {
        self.sampleID = sampleID
        self.label = label
        self.activations = activations
    }
}

/// A batch of samples that one device flushed under one deployment, numbered by the device.
///
/// `(device, sequence)` identifies the batch across resends: delivery is at-least-once, and the
/// registry stores a given pair once (see docs/REGISTRY.md).
public struct FeatureBatch: Hashable, Sendable {
    public var user: UserID
    public var device: DeviceID
    public var sequence: UInt64
    public var stamps: FeatureStamps
    public var samples: [FeatureSample]

    public init(user: UserID, device: DeviceID, sequence: UInt64, stamps: FeatureStamps, samples: [FeatureSample]) {
        self.user = user
        self.device = device
        self.sequence = sequence
        self.stamps = stamps
        self.samples = samples
    }

    /// Checks everything that came from the device: at least one sample, numbers that fit SQLite's
    /// signed 64-bit integers, unique sample ids, non-negative labels, one activation shape for the whole
    /// batch, shapes that match value counts, finite values.
    ///
    /// - Throws: ``RegistryError`` naming the first offending field.
    public func validate() throws(RegistryError) {
        guard !samples.isEmpty else {
            throw RegistryError(.emptyBatch, "batch \(device)#\(sequence) has no samples")
        }
        guard sequence <= UInt64(Int64.max) else {
            throw RegistryError(.valueOutOfRange, "sequence \(sequence) exceeds Int64.max")
        }
        var seen = Set<UInt64>()
        let shape = samples[0].activations.shape
        for (index, sample) in samples.enumerated() {
            let field = "samples[\(index)]"
            guard sample.sampleID <= UInt64(Int64.max) else {
                throw RegistryError(.valueOutOfRange, "\(field).sampleID \(sample.sampleID) exceeds Int64.max")
            }
            guard seen.insert(sample.sampleID).inserted else {
                throw RegistryError(.duplicateSample, "\(field).sampleID \(sample.sampleID) repeats")
            }
            guard sample.label >= 0 else {
                throw RegistryError(.valueOutOfRange, "\(field).label \(sample.label) is negative")
            }
            try sample.activations.validate("\(field).activations")
            guard sample.activations.shape == shape else {
                throw RegistryError(
                    .invalidShape, "\(field).activations: shape \(sample.activations.shape) differs from \(shape)")
            }
        }
    }
}
