import Testing
import ThawNN

@Suite struct ArchitectureTests {
    @Test func fedAvgCNNHasThePaperShapes() throws {
        let architecture = ModelArchitecture.fedAvgCNN(classes: 10)
        try architecture.validate()
        let shapes = architecture.activationShapes()
        #expect(shapes.count == 11)
        #expect(shapes[3] == [32, 14, 14])
        #expect(shapes[6] == [64, 7, 7])
        #expect(shapes[7] == [3136])
        #expect(shapes[10] == [10])
        #expect(architecture.parameterCount == 1_663_370)
        #expect(architecture.parameterCount(layers: 7..<10) == 3136 * 512 + 512 + 512 * 10 + 10)
        #expect(architecture.outputShape(afterLayer: 0) == [32, 28, 28])
        #expect(architecture.outputCount == 10)
    }

    @Test func layerCostsCountMultiplyAdds() {
        let architecture = ModelArchitecture.fedAvgCNN()
        #expect(architecture.cost(ofLayer: 0).forwardMACs == 32 * 28 * 28 * 25)
        #expect(architecture.cost(ofLayer: 3).forwardMACs == 64 * 14 * 14 * 32 * 25)
        #expect(architecture.cost(ofLayer: 7).forwardMACs == 3136 * 512)
        // The head's first layer needs no input gradient.
        #expect(architecture.backwardMACs(layers: 7..<10) == 3136 * 512 + 2 * 512 * 10)
        #expect(architecture.forwardMACs(layers: 7..<10) == 3136 * 512 + 512 * 10)
    }

    @Test func mlpHeadGrowsWithDepth() throws {
        let head = ModelArchitecture.mlpHead(inputs: 3136, hidden: 4096, depth: 2, classes: 10)
        try head.validate()
        #expect(head.layers.count == 5)
        #expect(head.parameterCount == 3136 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10)
    }

    @Test func mismatchedLayersAreRejectedWithTheLayerIndex() {
        let bad = ModelArchitecture(
            inputShape: [1, 28, 28],
            layers: [
                .conv2D(inChannels: 1, outChannels: 4, kernel: 3, stride: 1, padding: 1),
                .dense(inputs: 10, outputs: 2),
            ])
        #expect(throws: ArchitectureError.self) { try bad.validate() }
        do {
            try bad.validate()
        } catch {
            #expect(error.code == .shapeMismatch)
            #expect(error.layerIndex == 1)
        }
    }

    @Test func invalidParametersAndEmptyModelsAreRejected() {
        let cases: [(ModelArchitecture, ArchitectureError.Code)] = [
            (ModelArchitecture(inputShape: [4], layers: []), .emptyModel),
            (ModelArchitecture(inputShape: [], layers: [.relu]), .invalidInputShape),
            (ModelArchitecture(inputShape: [4], layers: [.dropout(rate: 1)]), .invalidParameter),
            (
                ModelArchitecture(
                    inputShape: [1, 4, 4],
                    layers: [.conv2D(inChannels: 1, outChannels: 1, kernel: 3, stride: 0, padding: 0)]),
                .invalidParameter
            ),
            (ModelArchitecture(inputShape: [1, 2, 2], layers: [.maxPool2D(size: 3, stride: 1)]), .shapeMismatch),
        ]
        for (architecture, code) in cases {
            do {
                try architecture.validate()
                Issue.record("\(architecture) validated")
            } catch {
                #expect(error.code == code)
            }
        }
    }
}
