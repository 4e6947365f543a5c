import ArgumentParser
import Foundation
import ThawData
import ThawNN

/// Options every learning command shares: where the data is, BLAS threads, the seed.
struct LearningOptions: ParsableArguments {
    @Option(help: "A directory laid out like mnist-writers/ (train-* and t10k-* IDX files, plain or .gz). Default: the small subset shipped with thaw.")
    var data: String?

    @Option(help: "OpenBLAS threads for this process.")
    var threads: Int = 1

    @Option(help: "Seed for initialisation, shuffling and user splits.")
    var seed: UInt64 = 1

    @Flag(help: "Print results as JSON instead of a table.")
    var json = false

    func validate() throws {
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    /// Sets the BLAS thread count and loads the data.
    func prepare() throws -> HandwritingDataset {
        BLAS.setThreadCount(threads)
        if let data { return try HandwritingDataset.load(directory: URL(fileURLWithPath: data)) }
        return try HandwritingDataset.shipped()
    }
}

/// The general-model architectures the CLI can train.
enum ArchitectureChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case fedavgCNN = "fedavg-cnn"
    case smallCNN = "small-cnn"

    var architecture: ModelArchitecture {
        switch self {
        case .fedavgCNN: return .fedAvgCNN(classes: 10)
        case .smallCNN: return .smallCNN(classes: 10)
        }
    }
}
