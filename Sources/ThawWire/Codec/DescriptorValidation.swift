/// Checks one descriptor and its frame against the limits, before anything is copied.
enum DescriptorValidation {
    /// Validates `descriptor` (index `index`) against `frame` and returns the shape as `[Int]`.
    /// - Throws: ``WireError`` with `.unsupportedDType`, `.invalidShape`, `.tensorTooLarge`,
    ///   `.shapeByteLengthMismatch` or `.frameLengthMismatch`.
    static func validate(
        _ descriptor: Thaw_V1_TensorDescriptor, index: Int, frame: [UInt8], limits: WireLimits
    ) throws(WireError) -> [Int] {
        let label = "tensor #\(index) \"\(descriptor.name)\""
        let elementSize: UInt64
        switch descriptor.dtype {
        case .float32: elementSize = 4
        case .float16: elementSize = 2
        case .int8RowScaled: elementSize = 1
        case .bytes: elementSize = 1
        case .unspecified: throw WireError(.unsupportedDType, "\(label): dtype DTYPE_UNSPECIFIED")
        case .UNRECOGNIZED(let raw): throw WireError(.unsupportedDType, "\(label): unknown dtype \(raw)")
        }
        let shape = descriptor.shape
        guard !shape.isEmpty, shape.count <= limits.maxRank else {
            throw WireError(.invalidShape, "\(label): rank \(shape.count) not in 1...\(limits.maxRank)")
        }
        if descriptor.dtype == .bytes, shape.count != 1 {
            throw WireError(.invalidShape, "\(label): a BYTES frame must have rank 1, got shape \(shape)")
        }
        var product: UInt64 = 1
        for dimension in shape {
            guard dimension <= limits.maxDimension else {
                throw WireError(.invalidShape, "\(label): dimension \(dimension) exceeds \(limits.maxDimension)")
            }
            let (next, overflow) = product.multipliedReportingOverflow(by: dimension)
            guard !overflow else { throw WireError(.invalidShape, "\(label): shape \(shape) overflows") }
            product = next
        }
        var (expectedBytes, overflow) = product.multipliedReportingOverflow(by: elementSize)
        guard !overflow else { throw WireError(.invalidShape, "\(label): shape \(shape) overflows") }
        if descriptor.dtype == .int8RowScaled {
            // One float32 scale per row (dimension 0) before the values.
            (expectedBytes, overflow) = expectedBytes.addingReportingOverflow(4 * shape[0])
            guard !overflow else { throw WireError(.invalidShape, "\(label): shape \(shape) overflows") }
        }
        guard expectedBytes <= UInt64(limits.maxTensorBytes) else {
            throw WireError(.tensorTooLarge, "\(label): \(expectedBytes) bytes exceed \(limits.maxTensorBytes)")
        }
        guard expectedBytes == descriptor.byteLength else {
            throw WireError(
                .shapeByteLengthMismatch,
                "\(label): shape \(shape) needs \(expectedBytes) bytes, byte_length is \(descriptor.byteLength)"
            )
        }
        guard UInt64(frame.count) == descriptor.byteLength else {
            throw WireError(
                .frameLengthMismatch,
                "\(label): byte_length \(descriptor.byteLength) but the frame has \(frame.count) bytes"
            )
        }
        // Every dimension is ≤ maxDimension (≤ 2^31 by default) and the product fits maxTensorBytes, so
        // the conversion to Int cannot trap on 64-bit hosts.
        return shape.map { Int($0) }
    }

    /// Checks that the descriptors are exactly the attachments `specs` requires.
    /// - Throws: ``WireError`` with `.unexpectedTensors`.
    static func match(
        _ descriptors: [Thaw_V1_TensorDescriptor], to specs: [AttachmentSpec], kind: ThawMessage.Kind
    ) throws(WireError) {
        guard descriptors.count == specs.count else {
            throw WireError(
                .unexpectedTensors,
                "\(kind.rawValue) carries \(specs.map(\.name)) but the header describes \(descriptors.map(\.name))"
            )
        }
        for (index, (descriptor, spec)) in zip(descriptors, specs).enumerated() {
            guard descriptor.name == spec.name else {
                throw WireError(
                    .unexpectedTensors,
                    "\(kind.rawValue) tensor #\(index): expected \"\(spec.name)\", got \"\(descriptor.name)\""
                )
            }
            let dtypeMatches: Bool
            switch spec.kind {
            case .float: dtypeMatches = descriptor.dtype == .float32
            case .bytes: dtypeMatches = descriptor.dtype == .bytes
            case .activations: dtypeMatches = ActivationEncoding(dtype: descriptor.dtype) != nil
            }
            guard dtypeMatches else {
                throw WireError(
                    .unexpectedTensors,
                    "\(kind.rawValue) tensor \"\(spec.name)\": expected \(spec.kind), got dtype \(descriptor.dtype)"
                )
            }
            guard spec.ranks.contains(descriptor.shape.count) else {
                throw WireError(
                    .unexpectedTensors,
                    "\(kind.rawValue) tensor \"\(spec.name)\": rank \(descriptor.shape.count) not in \(spec.ranks)"
                )
            }
        }
    }
}
