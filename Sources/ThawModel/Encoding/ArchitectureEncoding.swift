import ThawNN

/// The canonical byte encoding of a ``ModelArchitecture``: used inside model files and as the architecture's
/// part of every content hash, so two equal architectures always give the same bytes.
///
/// Layout (little-endian): UInt8 encoding version (1); UInt8 input rank then rank × UInt32 dimensions; UInt32
/// layer count; per layer a UInt8 tag and its fields as UInt32 — dense(1): inputs, outputs; conv2D(2):
/// inChannels, outChannels, kernel, stride, padding; relu(3); maxPool2D(4): size, stride; flatten(5);
/// dropout(6): the Float32 bit pattern of the rate.
public enum ArchitectureEncoding {
    public static let version: UInt8 = 1

    public static func encode(_ architecture: ModelArchitecture) -> [UInt8] {
        var writer = ByteWriter()
        writer.append(version)
        writer.append(UInt8(truncatingIfNeeded: architecture.inputShape.count))
        for dimension in architecture.inputShape { writer.append(UInt32(truncatingIfNeeded: dimension)) }
        writer.append(UInt32(truncatingIfNeeded: architecture.layers.count))
        for layer in architecture.layers {
            switch layer {
            case .dense(let inputs, let outputs):
                writer.append(UInt8(1))
                for field in [inputs, outputs] { writer.append(UInt32(truncatingIfNeeded: field)) }
            case .conv2D(let inChannels, let outChannels, let kernel, let stride, let padding):
                writer.append(UInt8(2))
                for field in [inChannels, outChannels, kernel, stride, padding] {
                    writer.append(UInt32(truncatingIfNeeded: field))
                }
            case .relu: writer.append(UInt8(3))
            case .maxPool2D(let size, let stride):
                writer.append(UInt8(4))
                for field in [size, stride] { writer.append(UInt32(truncatingIfNeeded: field)) }
            case .flatten: writer.append(UInt8(5))
            case .dropout(let rate):
                writer.append(UInt8(6))
                writer.append(rate.bitPattern)
            }
        }
        return writer.bytes
    }

    /// Decodes and validates an architecture.
    ///
    /// - Throws: ``ModelFileError`` `.invalidArchitecture` for an unknown version or tag, a short or
    ///   over-long encoding, or an architecture that fails ``ModelArchitecture/validate()``.
    public static func decode(_ bytes: some Collection<UInt8>) throws(ModelFileError) -> ModelArchitecture {
        var reader = ByteReader(Array(bytes))
        do throws(ModelFileError) {
            let found = try reader.read(UInt8.self, "architecture version")
            guard found == version else {
                throw ModelFileError(
                    .invalidArchitecture, "architecture encoding version \(found), expected \(version)")
            }
            let rank = Int(try reader.read(UInt8.self, "input rank"))
            var inputShape: [Int] = []
            for _ in 0..<rank { inputShape.append(Int(try reader.read(UInt32.self, "input dimension"))) }
            let layerCount = Int(try reader.read(UInt32.self, "layer count"))
            guard layerCount <= reader.remaining else {
                throw ModelFileError(.invalidArchitecture, "layer count \(layerCount) exceeds the encoding")
            }
            var layers: [LayerSpec] = []
            for index in 0..<layerCount {
                func field() throws(ModelFileError) -> Int { Int(try reader.read(UInt32.self, "layer \(index) field")) }
                let tag = try reader.read(UInt8.self, "layer \(index) tag")
                switch tag {
                case 1: layers.append(.dense(inputs: try field(), outputs: try field()))
                case 2:
                    layers.append(
                        .conv2D(
                            inChannels: try field(), outChannels: try field(), kernel: try field(),
                            stride: try field(), padding: try field()))
                case 3: layers.append(.relu)
                case 4: layers.append(.maxPool2D(size: try field(), stride: try field()))
                case 5: layers.append(.flatten)
                case 6: layers.append(.dropout(rate: Float(bitPattern: try reader.read(UInt32.self, "dropout rate"))))
                default: throw ModelFileError(.invalidArchitecture, "layer \(index) has unknown tag \(tag)")
                }
            }
            guard reader.remaining == 0 else {
                throw ModelFileError(.invalidArchitecture, "\(reader.remaining) bytes after the last layer")
            }
            let architecture = ModelArchitecture(inputShape: inputShape, layers: layers)
            do throws(ArchitectureError) {
                try architecture.validate()
            } catch {
                throw ModelFileError(.invalidArchitecture, "\(error)")
            }
            return architecture
        } catch {
            guard error.code == .truncated else { throw error }
            throw ModelFileError(.invalidArchitecture, "architecture encoding too short: \(error.context)")
        }
    }
}
