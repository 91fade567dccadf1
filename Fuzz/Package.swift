// swift-tools-version:6.0
// libFuzzer targets for sskd's parsers and file readers (docs/reliability.md, "Fuzzing"). A separate package,
// so that `swift build`/`swift test` of sskd never see them. Build and run one with `scripts/fuzz TARGET`:
//   swift build --package-path Fuzz -c debug -Xswiftc -O -Xswiftc -sanitize=fuzzer,address --product fuzz-npy
// (debug configuration plus -O: optimised, but with Swift's bounds and overflow checks and `@testable` access;
// sskd's release configuration compiles the readers with -Ounchecked, which would hide those traps).
import PackageDescription

let targets = ["parser", "safetensors", "pth", "idx", "cifar", "npy"]

let package = Package(
    name: "sskd-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [.package(name: "sskd", path: "..")],
    targets: [
        .target(name: "FuzzSupport", path: "Sources/FuzzSupport")
    ]
        + targets.map { name in
            .executableTarget(
                name: "fuzz-\(name)",
                dependencies: [
                    "FuzzSupport", .product(name: "SSKDReaders", package: "sskd"),
                ], path: "Sources/fuzz-\(name)")
        },
    swiftLanguageModes: [.v5]
)
