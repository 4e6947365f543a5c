/// A raw frame that follows the envelope header, with what its descriptor says about it.
enum Attachment: Equatable {
    case float(name: String, WireTensor)
    case bytes(name: String, [UInt8])
    /// Float activations that travel in `encoding` (FLOAT32, FLOAT16 or INT8_ROW_SCALED); decoded on
    /// arrival, so the tensor always holds floats.
    case activations(name: String, WireTensor, ActivationEncoding)

    var name: String {
        switch self {
        case .float(let name, _), .bytes(let name, _), .activations(let name, _, _): name
        }
    }

    /// The float tensor of a `.float` or `.activations` attachment.
    var tensor: WireTensor? {
        switch self {
        case .float(_, let tensor), .activations(_, let tensor, _): tensor
        case .bytes: nil
        }
    }

    /// The descriptor's dtype for this attachment.
    var dtype: Thaw_V1_DType {
        switch self {
        case .float: .float32
        case .bytes: .bytes
        case .activations(_, _, let encoding): encoding.dtype
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
        case .activations(_, let tensor, let encoding):
            let frame = ActivationCodec.encode(tensor, as: encoding)
            descriptor.dtype = encoding.dtype
            descriptor.shape = tensor.shape.map { UInt64($0) }
            descriptor.byteLength = UInt64(frame.count)
            return (descriptor, frame)
        }
    }
}

extension ActivationEncoding {
    /// The frame dtype of this encoding.
    var dtype: Thaw_V1_DType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .int8: .int8RowScaled
        }
    }

    /// The encoding a float dtype stands for (`nil` for BYTES and unknown types).
    init?(dtype: Thaw_V1_DType) {
        switch dtype {
        case .float32: self = .float32
        case .float16: self = .float16
        case .int8RowScaled: self = .int8
        default: return nil
        }
    }
}

/// What a payload kind requires after its header: names, types and ranks, in frame order.
struct AttachmentSpec: Equatable {
    /// `activations`: a float tensor in any ``ActivationEncoding`` (a FeatureBatch's upload).
    enum Kind: Equatable { case float, bytes, activations }
    var name: String
    var kind: Kind
    /// Allowed ranks for float tensors (ignored for bytes, which are always rank 1).
    var ranks: ClosedRange<Int>

    static func float(_ name: String, ranks: ClosedRange<Int>) -> AttachmentSpec {
        AttachmentSpec(name: name, kind: .float, ranks: ranks)
    }

    static func activations(_ name: String, ranks: ClosedRange<Int>) -> AttachmentSpec {
        AttachmentSpec(name: name, kind: .activations, ranks: ranks)
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
    static let headDelta = "head_delta"
}
