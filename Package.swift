// swift-tools-version: 6.1
// DynamoCache: a write-through caching proxy for DynamoDB's HTTP JSON API.
// Module plan and dependency direction: ../shared/STYLE.md (dynamo-cache -> Server -> Proxy -> {CacheCore,
// DynamoWire, Upstream}); Upstream is a plain HTTP(S) client and needs nothing of DynamoWire. AWSAuth (SigV4
// signing and verification, the credential chain) is used by Upstream (re-signing), Proxy (client
// authentication) and the bench tool; it opens no sockets itself. LoadGenerator (the `bench` subcommand's engine)
// is a client of the proxy's wire protocol: it uses DynamoWire and Upstream's HTTP client, and nothing of the
// proxy's decisions. Benchmarks live in their own package under Benchmarks/ so that the benchmark harness is
// never built by `swift build` / `swift test`.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "dynamo-cache",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "dynamo-cache", targets: ["dynamo-cache"]),
        .library(name: "CacheCore", targets: ["CacheCore"]),
        .library(name: "DynamoWire", targets: ["DynamoWire"]),
        .library(name: "Proxy", targets: ["Proxy"]),
        .library(name: "Upstream", targets: ["Upstream"]),
        .library(name: "Server", targets: ["Server"]),
        .library(name: "LoadGenerator", targets: ["LoadGenerator"]),
        .library(name: "AWSAuth", targets: ["AWSAuth"]),
        .library(name: "StreamFollower", targets: ["StreamFollower"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(name: "CacheCore", swiftSettings: swiftSettings),
        // SigV4 signing and verification, the credential chain, the client credentials file: used by Upstream,
        // the data plane and the bench tool alike. No sockets: credential endpoints are reached through a protocol.
        .target(
            name: "AWSAuth",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DynamoWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Upstream",
            dependencies: [
                "AWSAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Proxy",
            dependencies: [
                "AWSAuth",
                "CacheCore",
                "DynamoWire",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Server",
            dependencies: [
                "Proxy",
                "DynamoWire",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "StreamFollower",
            dependencies: [
                "DynamoWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "LoadGenerator",
            dependencies: [
                "AWSAuth",
                "DynamoWire",
                "Upstream",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(
            name: "CJemalloc",
            pkgConfig: "jemalloc",
            providers: [.apt(["libjemalloc-dev"])]
        ),
        .executableTarget(
            name: "dynamo-cache",
            dependencies: [
                "AWSAuth",
                "CacheCore",
                "DynamoWire",
                "Server",
                "Proxy",
                "Upstream",
                "LoadGenerator",
                "StreamFollower",
                "CJemalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "CacheCoreTests", dependencies: ["CacheCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "AWSAuthTests",
            dependencies: ["AWSAuth", .product(name: "NIOConcurrencyHelpers", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ProxyTests",
            dependencies: [
                "Proxy", "DynamoWire", "CacheCore", "AWSAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DynamoWireTests", dependencies: ["DynamoWire"], swiftSettings: swiftSettings),
        .testTarget(
            name: "StreamFollowerTests",
            dependencies: [
                "StreamFollower", "DynamoWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "LoadGeneratorTests",
            dependencies: [
                "LoadGenerator", "FakeServers", "AWSAuth",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Servers that tests of several modules talk to over real sockets.
        .target(
            name: "FakeServers",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/FakeServers",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Proxy", "Upstream", "DynamoWire", "FakeServers", "dynamo-cache",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Fuzz targets (Tests/Fuzz, run by ops/fuzz.sh): one entry point per input surface in FuzzTargets, and one
        // executable each that libFuzzer drives when built with -sanitize=fuzzer -DFUZZING, or that replays the
        // inputs named on its command line when built plainly.
        .target(
            name: "FuzzTargets",
            dependencies: [
                "AWSAuth", "DynamoWire", "Proxy", "Server",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/Fuzz/FuzzTargets",
            swiftSettings: swiftSettings
        ),
    ]
        + ["fuzz-json", "fuzz-requests", "fuzz-expressions", "fuzz-dataplane"].map { name in
            Target.executableTarget(
                name: name,
                dependencies: ["FuzzTargets"],
                path: "Tests/Fuzz/\(name)",
                swiftSettings: swiftSettings
            )
        }
)
