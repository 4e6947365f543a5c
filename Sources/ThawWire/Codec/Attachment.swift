/// A raw frame that follows the envelope header, with what its descriptor says about it.
enum Attachment: Equatable {
    case float(name: String, WireTensor)
    case bytes(name: String, [UInt8])

    var name: String {
        switch self {
        case .float(let name, _), .bytes(let name, _): name
        }
    }

    /// The descriptor and frame to send.
    func encoded() -> (Thaw_V1_TensorDescriptor, [UInt8]) {
        var descriptor = Thaw_V1_TensorDescriptor()
        descriptor.name = name
        switch self {
        case .float(_, let tensor):
            let frame = TensorFrame.bytes(of: tensor.scalars)
            descriptor.dtype = .float32
            descriptor.shape = tensor.shape.map { UInt64($0) }
            descriptor.byteLength = UInt64(frame.count)
            return (descriptor, frame)
        case .bytes(_, let blob):
            descriptor.dtype = .bytes
            descriptor.shape = [UInt64(blob.count)]
            descriptor.byteLength = UInt64(blob.count)
            return (descriptor, blob)
        }
    }
}

/// What a payload kind requires after its header: names, types and ranks, in frame order.
struct AttachmentSpec: Equatable {
    enum Kind: Equatable { case float, bytes }
    var name: String
    var kind: Kind
    /// Allowed ranks for float tensors (ignored for bytes, which are always rank 1).
    var ranks: ClosedRange<Int>

    static func float(_ name: String, ranks: ClosedRange<Int>) -> AttachmentSpec {
        AttachmentSpec(name: name, kind: .float, ranks: ranks)
    }

    static func bytes(_ name: String) -> AttachmentSpec {
        AttachmentSpec(name: name, kind: .bytes, ranks: 1...1)
    }
}

/// The well-known attachment names.
enum AttachmentName {
    static let activations = "activations"
    static let headParameters = "head_parameters"
    static let checkpoint = "checkpoint"
}
