import Networks

/// How the PyTorch builders of `PythonTemplate.modelLibrary` make a zoo model: the family's builder and its sizes,
/// read off the model's name and its state dict (the shapes say the widths, block counts, channels and classes, so
/// the description holds for a loaded checkpoint as for a new model).
struct PyTorchArchitecture {
    /// The builder: `cifar_resnet`, `torchvision_resnet`, `wide_resnet`, `vgg`, `mlp` or `cnn`.
    let family: String
    /// The builder's keyword arguments in order: `channels`, `classes`, then the family's sizes.
    let arguments: [(String, PythonLiteral)]

    /// The description of `model`.
    /// - Parameter inputSize: `[H, W]` of the images, needed by the MLP (its first layer has C·H·W inputs).
    /// - Throws: `EngineError` for an architecture the zoo's PyTorch families do not cover, or a state dict that
    ///   does not have the family's layout.
    init(_ model: Model, inputSize: [Int]?) throws {
        let name = model.architecture.lowercased().replacingOccurrences(of: "_", with: "-")
        let shapes = Dictionary(model.stateDict().map { ($0.0, $0.1.shape) }, uniquingKeysWith: { a, _ in a })
        func shape(_ key: String) throws -> [Int] {
            guard let s = shapes[key] else { throw EngineError("cannot export \(name): it has no \(key)") }
            return s
        }
        /// How many `prefix.N.` blocks have `suffix` (`layer1.0.conv1.weight`, `layer1.1.conv1.weight`, ...).
        func count(_ prefix: String, _ suffix: String) -> Int {
            var n = 0
            while shapes["\(prefix).\(n).\(suffix)"] != nil { n += 1 }
            return n
        }
        let firstConv = model.stateDict().first { $0.1.rank == 4 }?.1.shape
        let lastLinear = model.stateDict().last { $0.0.hasSuffix("weight") && $0.1.rank == 2 }?.1.shape
        guard let classes = lastLinear?.first else { throw EngineError("cannot export \(name): it has no classifier") }
        var args: [(String, PythonLiteral)] = []
        if ["resnet18", "resnet34", "resnet50"].contains(name) {
            family = "torchvision_resnet"
            args = [
                ("blocks", .ints((1...4).map { count("layer\($0)", "conv1.weight") })),
                ("bottleneck", .bool(shapes["layer1.0.conv3.weight"] != nil)),
            ]
        } else if name.hasPrefix("resnet") {
            family = "cifar_resnet"
            let widths = try [shape("conv1.weight")[0]] + (1...3).map { try shape("layer\($0).0.conv2.weight")[0] }
            args = [("blocks", .int(count("layer1", "conv1.weight"))), ("widths", .ints(widths))]
        } else if name.hasPrefix("wrn") {
            family = "wide_resnet"
            let widen = try shape("block1.layer.0.conv1.weight")[0] / 16
            args = [("blocks", .int(count("block1.layer", "conv1.weight"))), ("widen", .int(widen))]
        } else if name.hasPrefix("vgg") {
            family = "vgg"
            let cfg = (0..<5).map { b -> PythonLiteral in
                let convs = shapes.filter { $0.key.hasPrefix("block\(b).") && $0.value.count == 4 }
                    .map { (Int($0.key.split(separator: ".")[1]) ?? 0, $0.value[0]) }.sorted { $0.0 < $1.0 }
                return .ints(convs.map(\.1))
            }
            args = [("cfg", .list(cfg))]
        } else if name == "mlp" {
            family = "mlp"
            let widths = Self.layerWidths(shapes)
            let features = try shape("layer1.0.weight")[1]
            let size = inputSize ?? [28, 28]
            guard size.count == 2, size[0] * size[1] > 0, features % (size[0] * size[1]) == 0 else {
                throw EngineError("cannot export mlp: its \(features) inputs do not fit images of \(size)")
            }
            args = [
                ("channels", .int(features / (size[0] * size[1]))), ("classes", .int(classes)),
                ("widths", .ints(widths)), ("input_size", .ints(size)),
            ]
            arguments = args
            return
        } else if name == "cnn" {
            family = "cnn"
            args = [("widths", .ints(Self.layerWidths(shapes)))]
        } else {
            throw EngineError("cannot export \(name) to PyTorch: only the zoo's architectures export")
        }
        guard let channels = firstConv?[1] else { throw EngineError("cannot export \(name): it has no convolution") }
        arguments = [("channels", .int(channels)), ("classes", .int(classes))] + args
    }

    /// The output sizes of `layer1.0.weight`, `layer2.0.weight`, ... (the MLP's and CNN's widths).
    private static func layerWidths(_ shapes: [String: [Int]]) -> [Int] {
        (1...).prefix(while: { shapes["layer\($0).0.weight"] != nil }).map { shapes["layer\($0).0.weight"]![0] }
    }

    /// The `CONFIG` dict of the generated file: `{"family": ..., "channels": C, "classes": K, ...}`.
    var config: PythonLiteral { .dict([("family", .string(family))] + arguments) }

    /// The input channel count.
    var channels: Int {
        if case .int(let c)? = arguments.first(where: { $0.0 == "channels" })?.1 { return c }
        return 1
    }
}
