/// Why a ``ModelArchitecture`` cannot be built: which layer, and what did not fit.
public struct ArchitectureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// An extensible, opaque failure category.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidInputShape, emptyModel, invalidParameter, shapeMismatch, tooLarge
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The per-sample input shape is empty or has a non-positive dimension.
        public static let invalidInputShape = Code(.invalidInputShape)
        /// The model has no layers.
        public static let emptyModel = Code(.emptyModel)
        /// A layer has a non-positive size, stride or kernel, or a dropout rate outside [0, 1).
        public static let invalidParameter = Code(.invalidParameter)
        /// A layer's input shape does not match what it expects.
        public static let shapeMismatch = Code(.shapeMismatch)
        /// An activation or the parameter count exceeds ``ModelArchitecture/maxActivationElements`` or
        /// ``ModelArchitecture/maxParameterCount``.
        public static let tooLarge = Code(.tooLarge)

        public var description: String { "\(value)" }
    }

    public let code: Code
    /// The index of the offending layer, or nil for model-wide problems.
    public let layerIndex: Int?
    public let context: String

    public init(_ code: Code, layerIndex: Int?, _ context: String) {
        self.code = code
        self.layerIndex = layerIndex
        self.context = context
    }

    public var description: String {
        if let layerIndex { return "ArchitectureError.\(code) at layer \(layerIndex): \(context)" }
        return "ArchitectureError.\(code): \(context)"
    }
}
