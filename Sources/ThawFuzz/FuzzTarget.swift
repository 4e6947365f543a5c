import ThawModel
import ThawNN
import ThawNodes
import ThawWire

/// One decoder under fuzzing: its valid seed inputs, how to fix up a mutated input so it gets past a
/// checksum to the structure behind it, and the property every input must satisfy.
///
/// The property: the decoder returns a typed error or a valid value, and a valid value survives a
/// round trip (encode it again and decode that: the same value). A trap ends the process, which is how
/// a run reports a crash; a broken round trip throws ``FuzzFailure``.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `WireCodec.decode`: an Envelope header plus tensor frames.
    case wire
    /// `WireCodec.decodePublished`: a topic frame, then a message.
    case published
    /// `ModelCheckpoint.decode`: a THAWMDL1 model file (one frame).
    case model
    /// `DeviceCacheStore.decode`: a THAWDEV1 device cache file (one frame).
    case deviceCache = "device-cache"

    /// What one input did.
    public enum Outcome: Sendable, Hashable {
        case accepted
        /// Refused with this error code (a ``WireError`` code, ``ModelFileError`` code, …).
        case refused(String)
    }

    /// Valid inputs to start mutating from (one per message kind for the wire targets).
    public var seeds: [[[UInt8]]] {
        switch self {
        case .wire: FuzzSeeds.messages.compactMap { try? WireCodec.encode($0, metadata: FuzzSeeds.metadata) }
        case .published:
            FuzzSeeds.messages.compactMap { try? WireCodec.encodePublished($0, metadata: FuzzSeeds.metadata) }
        case .model: FuzzSeeds.modelFiles.map { [$0] }
        case .deviceCache: FuzzSeeds.snapshots.map { [DeviceCacheStore.encode($0)] }
        }
    }

    /// For the file targets, half the time: recompute the checksum (and length field) so the decoder's
    /// structural checks are reached. A hostile writer can always compute a valid checksum.
    func reseal(_ frames: [[UInt8]], coin: Bool) -> [[UInt8]] {
        guard coin, let first = frames.first else { return frames }
        switch self {
        case .wire, .published: return frames
        case .model: return [ModelCheckpoint.resealed(first)] + frames.dropFirst()
        case .deviceCache: return [DeviceCacheStore.resealed(first)] + frames.dropFirst()
        }
    }

    /// Runs the decoder on `frames` and checks the property.
    /// - Throws: ``FuzzFailure`` when a decoded value does not survive a round trip.
    public func run(_ frames: [[UInt8]]) throws(FuzzFailure) -> Outcome {
        switch self {
        case .wire:
            let decoded: DecodedMessage
            do { decoded = try WireCodec.decode(frames) } catch { return .refused("\(error.code)") }
            try Self.roundTrip(decoded, published: false)
        case .published:
            let decoded: DecodedMessage
            do { decoded = try WireCodec.decodePublished(frames) } catch { return .refused("\(error.code)") }
            try Self.roundTrip(decoded, published: true)
        case .model:
            let bytes = frames.first ?? []
            let contents: ModelCheckpoint.Contents
            do { contents = try ModelCheckpoint.decode(bytes) } catch { return .refused("\(error.code)") }
            // What loaders do next must not trap either.
            _ = contents.architecture.activationShapes()
            _ = contents.architecture.parameterSlices()
            guard ModelCheckpoint.encode(contents) == bytes else {
                throw FuzzFailure(target: self, "an accepted model file does not re-encode to the same bytes", frames)
            }
        case .deviceCache:
            let snapshot: DeviceSnapshot
            do {
                snapshot = try DeviceCacheStore.decode(frames.first ?? [], path: "fuzz")
            } catch let error as StateFileError {
                return .refused("\(error.code)")
            } catch {
                return .refused("other")
            }
            let again: DeviceSnapshot
            do {
                again = try DeviceCacheStore.decode(DeviceCacheStore.encode(snapshot), path: "fuzz")
            } catch {
                throw FuzzFailure(target: self, "an accepted cache does not decode after re-encoding: \(error)", frames)
            }
            guard again == snapshot else {
                throw FuzzFailure(target: self, "an accepted cache changes in a round trip", frames)
            }
        }
        return .accepted
    }

    /// Encoding is deterministic, so an accepted message must re-encode to frames that decode and
    /// re-encode to the same bytes. Bytes, not values, are compared: a metrics gauge may be NaN (only
    /// tensors must be finite), and NaN is not equal to itself.
    private static func roundTrip(_ decoded: DecodedMessage, published: Bool) throws(FuzzFailure) {
        let target: FuzzTarget = published ? .published : .wire
        func encode(_ message: DecodedMessage) throws(WireError) -> [[UInt8]] {
            published
                ? try WireCodec.encodePublished(message.message, metadata: message.metadata)
                : try WireCodec.encode(message.message, metadata: message.metadata)
        }
        do {
            let frames = try encode(decoded)
            let again = published ? try WireCodec.decodePublished(frames) : try WireCodec.decode(frames)
            guard try encode(again) == frames, again.message.kind == decoded.message.kind else {
                throw FuzzFailure(target: target, "\(decoded.message.kind) changes in a round trip", frames)
            }
        } catch let failure as FuzzFailure {
            throw failure
        } catch {
            throw FuzzFailure(target: target, "an accepted \(decoded.message.kind) does not re-encode: \(error)", [])
        }
    }
}

/// A decoded value that broke the fuzz property (not a crash: a crash ends the process).
public struct FuzzFailure: Error, Sendable, CustomStringConvertible {
    public let target: FuzzTarget
    public let reason: String
    public let input: [[UInt8]]

    init(target: FuzzTarget, _ reason: String, _ input: [[UInt8]]) {
        self.target = target
        self.reason = reason
        self.input = input
    }

    public var description: String { "fuzz \(target.rawValue): \(reason)" }
}
