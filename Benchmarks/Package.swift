// swift-tools-version: 6.1
// Benchmarks of DynamoCache, kept out of the main package so that `swift build` / `swift test` never build the
// benchmark harness. Run from this folder: `swift package benchmark` (see the README's Benchmarks section).
// Malloc counts are the stable gate (thresholds committed under Thresholds/); wall-clock figures are for
// local comparison only.
import Foundation
import PackageDescription

/// A path dependency is identified by its folder's name, which is whatever the clone was called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "dynamo-cache-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "CacheCoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CacheCore", package: root),
            ],
            path: "Benchmarks/CacheCoreBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)
