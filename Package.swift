// swift-tools-version:6.0
// sskd — Stage-by-Stage Knowledge Distillation (Gao et al., arXiv 1812.01819) in Swift.
// Targets are layered: Storage (files, zip) and Tensors <- Networks, Datasets, Plotting; Networks + Datasets
// <- Distillation; everything <- EngineCommands <- sskd. The command language (Language) imports none of the
// numeric targets: EngineCommands adds the engine's commands to its sessions. The libFuzzer targets live in their
// own package, Fuzz/.
import PackageDescription

// The numeric targets are optimised in debug builds too, so that `swift test` trains real models in
// seconds rather than minutes; release builds drop bounds checks in them as well.
let optimized: [SwiftSetting] = [
    .unsafeFlags(["-O"], .when(configuration: .debug)),
    .unsafeFlags(["-Ounchecked"], .when(configuration: .release)),
]

let package = Package(
    name: "sskd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "sskd", targets: ["sskd"]),
        // For the libFuzzer package in Fuzz/ (a package can only depend on another package's products).
        .library(name: "SSKDReaders", targets: ["Storage", "Networks", "Datasets", "Language", "EngineCommands"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev, libreadline-dev, zlib1g-dev, libpng-dev, libjpeg62-turbo-dev; see
        // scripts/setup).
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .systemLibrary(name: "CReadline", path: "Sources/CReadline"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),

        // File plumbing: whole-file reads, atomic writes (fsync + rename), the zip reader, inflation.
        .target(name: "Storage", dependencies: ["CZlib"]),
        // PNG and JPEG decoding through libpng 1.6 and libjpeg-turbo (Debian libpng-dev, libjpeg62-turbo-dev), in C so
        // that libjpeg's longjmp never crosses a Swift frame; for the ImageFolder reader.
        .target(
            name: "CImageCodecs",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("jpeg"), .linkedLibrary("z")]),
        // The core's C kernels (the direct convolution), optimised in debug builds too; see the file header.
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        // The core: tensors, autograd, ops, optimizers.
        .target(name: "Tensors", dependencies: ["CBLAS", "CKernels"], swiftSettings: optimized),
        // Layers, the model zoo, stages, checkpoints (safetensors, PyTorch .pth).
        .target(name: "Networks", dependencies: ["Tensors", "Storage"], swiftSettings: optimized),
        // Fashion-MNIST/IDX, CIFAR, NumPy, ImageFolder (PNG/JPEG) readers; splits, batches, augmentation.
        .target(name: "Datasets", dependencies: ["Tensors", "Storage", "CImageCodecs"], swiftSettings: optimized),
        // SSKD mimic/freeze/head, KD, FitNets, AT, metrics, run records.
        .target(
            name: "Distillation", dependencies: ["Tensors", "Networks", "Datasets", "Storage"], swiftSettings: optimized
        ),
        // gnuplot pipe and notebooks.
        .target(name: "Plotting", dependencies: ["Storage"]),
        // The sskd command language: lexer, parser, evaluator, command declarations, help, completion, REPL.
        .target(name: "Language", dependencies: ["Storage", "CReadline"]),
        // The engine's commands (data, model, mimic, train, sskd, kd, plot, ...) and the session's workspace.
        .target(
            name: "EngineCommands",
            dependencies: ["Language", "Tensors", "Networks", "Datasets", "Distillation", "Plotting", "Storage"]),
        .executableTarget(
            name: "sskd",
            dependencies: [
                "Language", "EngineCommands", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        .executableTarget(
            name: "sskd-bench", dependencies: ["Tensors", "Networks", "Datasets"], swiftSettings: optimized),

        .testTarget(name: "StorageTests", dependencies: ["Storage", "TestSupport"]),
        .testTarget(name: "TensorsTests", dependencies: ["Tensors"], resources: [.copy("Fixtures")]),
        // Helpers shared by test targets (seeded input mutation for the readers' random-input tests, running processes
        // and the venv's tools).
        .target(name: "TestSupport", dependencies: ["Tensors", "CZlib"], path: "Tests/Support"),
        .testTarget(
            name: "NetworksTests", dependencies: ["Networks", "Storage", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(
            name: "DatasetsTests", dependencies: ["Datasets", "TestSupport"], resources: [.copy("PickleFixtures")]),
        .testTarget(name: "DistillationTests", dependencies: ["Distillation"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PlottingTests", dependencies: ["Plotting", "TestSupport"]),
        .testTarget(
            name: "InterpreterTests", dependencies: ["Language", "EngineCommands", "TestSupport"],
            resources: [.copy("Golden"), .copy("EngineGolden")]),
    ],
    swiftLanguageModes: [.v5]
)
