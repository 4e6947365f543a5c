#!/bin/sh
# Builds the personalisation exploration driver (main.swift here) in a scratch package that symlinks this
# checkout's ThawNN, ThawData, ThawLearning, HeadSwapGate.swift and PersonalizationStudy.swift: the same code
# `thaw pretrain` / `thaw personalize` run, without a release build of the whole package (swift-crypto,
# GRDB, NIO), which does not fit a loaded 2-core machine. Needs a resolved checkout (.build/checkouts/swift-log).
#
#   scripts/personalize-explore/build.sh [DIR]      # default /tmp/personalize-explore; prints the binary's path
set -eu
repo=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-/tmp/personalize-explore}
mkdir -p "$dir/Sources/ThawNodes" "$dir/Sources/ThawSimulation" "$dir/Sources/personalize-explore"
for module in CBLAS CZlib ThawData ThawLearning ThawNN; do ln -sfn "$repo/Sources/$module" "$dir/Sources/$module"; done
ln -sfn "$repo/Sources/ThawNodes/SimulatedDevice/HeadSwapGate.swift" "$dir/Sources/ThawNodes/HeadSwapGate.swift"
ln -sfn "$repo/Sources/ThawSimulation/Evaluation/PersonalizationStudy.swift" "$dir/Sources/ThawSimulation/PersonalizationStudy.swift"
ln -sfn "$repo/scripts/personalize-explore/main.swift" "$dir/Sources/personalize-explore/main.swift"
cat > "$dir/Package.swift" <<PACKAGE
// swift-tools-version: 6.1
import PackageDescription
let package = Package(
    name: "PersonalizeExplore",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "$repo/.build/checkouts/swift-log")],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas"),
        .systemLibrary(name: "CZlib"),
        .target(name: "ThawNN", dependencies: ["CBLAS"]),
        .target(name: "ThawData", dependencies: ["CZlib"], resources: [.copy("Resources/handwriting")]),
        .target(name: "ThawLearning", dependencies: ["ThawNN", "ThawData", .product(name: "Logging", package: "swift-log")]),
        .target(name: "ThawNodes", dependencies: ["ThawNN"]),
        .target(name: "ThawSimulation", dependencies: ["ThawNodes", "ThawNN", "ThawData", "ThawLearning"]),
        .executableTarget(name: "personalize-explore", dependencies: [
            "ThawSimulation", "ThawLearning", "ThawNN", "ThawData", "ThawNodes", .product(name: "Logging", package: "swift-log")]),
    ]
)
PACKAGE
(cd "$dir" && swift build -c release --product personalize-explore >&2)
echo "$dir/.build/release/personalize-explore"
