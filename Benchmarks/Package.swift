// swift-tools-version: 6.1
// Benchmarks of DynamoCache, kept out of the main package so that `swift build` / `swift test` never build the
// benchmark harness. Run from this folder: `swift package benchmark` (see the README's Performance section).
// Malloc counts are the stable gate (thresholds committed under Thresholds/); wall-clock figures are for
// local comparison only. The hit-ratio simulator (Sources/HitRatioSimulator, `swift run -c release
// HitRatioSimulator`) is a plain executable, not a benchmark: the benchmark plugin only runs targets under
// Benchmarks/.
import Foundation
import PackageDescription

/// A path dependency is identified by its folder's name, which is whatever the clone was called.
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

/// The root package's `-package-name` as SwiftPM derives it (identity, lowercased, C99-identifier-mangled).
/// Targets compiled with it belong to the root package's `package` scope and see its `package` API, which no
/// other package can. Such a target also needs `packageAccess: false`: otherwise SwiftPM appends its own
/// `-package-name` (this package's) after the unsafe flags, and the last one wins. unsafeFlags are accepted
/// because this package is only ever built as a root package.
let rootPackageName = String(
    root.lowercased().enumerated().map { offset, character in
        character.isASCII && (character.isLetter || character == "_" || (offset > 0 && character.isNumber))
            ? character : "_"
    }
)
let rootPackageScope: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .unsafeFlags(["-package-name", rootPackageName]),
]

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "dynamo-cache-benchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
    ],
    targets: [
        .executableTarget(
            name: "CacheCoreBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "CacheCore", package: root),
                .product(name: "LoadGenerator", package: root),
            ],
            path: "Benchmarks/CacheCoreBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v6)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "DynamoWireBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "DynamoWire", package: root),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/DynamoWireBenchmarks",
            packageAccess: false,
            swiftSettings: rootPackageScope,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "HitPathBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Proxy", package: root),
                .product(name: "DynamoWire", package: root),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/HitPathBenchmarks",
            packageAccess: false,
            swiftSettings: rootPackageScope,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "AWSAuthBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AWSAuth", package: root),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            path: "Benchmarks/AWSAuthBenchmarks",
            packageAccess: false,
            swiftSettings: rootPackageScope,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .target(
            name: "HitRatioSimulation",
            dependencies: [
                .product(name: "CacheCore", package: root),
                .product(name: "LoadGenerator", package: root),
                .product(name: "HeapModule", package: "swift-collections"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "HitRatioSimulator",
            dependencies: [
                "HitRatioSimulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HitRatioSimulationTests",
            dependencies: ["HitRatioSimulation", .product(name: "LoadGenerator", package: root)],
            swiftSettings: swiftSettings
        ),
    ]
)
