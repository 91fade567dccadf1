import Tensors

/// The model zoo: architectures used in knowledge-distillation papers, built with the exact parameter names of
/// the PyTorch definitions people train (RepDistiller `models/*.py` for CIFAR, torchvision for ImageNet), so
/// their checkpoints load by name.
///
/// | name | source | stages |
/// |---|---|---|
/// | `resnet8/14/20/32/44/56/110`, any `resnetD` with D = 6n+2 (widths 16,16,32,64), `resnet8x4`, `resnet32x4`
/// (32,64,128,256) | RepDistiller `resnet.py` | `layer1..layer3` |
/// | `wrn-D-K` (`wrn-16-1`, `wrn-16-2`, `wrn-40-1`, `wrn-40-2`; D = 6n+4) | RepDistiller `wrn.py` | `block1..block3` |
/// | `vgg8/11/13/16/19` (with BatchNorm) | RepDistiller `vgg.py` | `block0..block4` |
/// | `resnet18/34/50` | torchvision `resnet.py` | `layer1..layer4` |
/// | `mlp` (hidden `widths`, default 256,128), `cnn` (conv-bn-relu-maxpool `widths`, default 32,64,128) | sskd |
/// `layer1..` |
///
/// Every head ends in global average pooling (not RepDistiller's fixed `AvgPool2d(8)`), so 28x28, 32x32 and
/// 224x224 inputs all work with the same weights.
public enum Zoo {
    /// Models above this many parameters are refused before any allocation (800 MB of Float32 weights, about
    /// 2.4 GB with gradients and momentum); the interpreter's `model` quotes this limit too.
    public static let parameterLimit = 200_000_000

    /// Names `make` accepts (plus any `wrn-D-K` and CIFAR `resnetD`).
    public static let architectures = [
        "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4", "resnet32x4",
        "wrn-16-1", "wrn-16-2", "wrn-40-1", "wrn-40-2", "vgg8", "vgg11", "vgg13", "vgg16", "vgg19",
        "resnet18", "resnet34", "resnet50", "mlp", "cnn",
    ]

    /// The names of `models/__init__.py` `model_dict` in RepDistiller (HobbitLong/RepDistiller) whose parameter
    /// names sskd's zoo model shares.
    static let repDistillerNames = [
        "resnet8", "resnet14", "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet8x4", "resnet32x4",
        "wrn_16_1", "wrn_16_2", "wrn_40_1", "wrn_40_2", "vgg8", "vgg11", "vgg13", "vgg16", "vgg19",
    ]

    /// The key RepDistiller's `model_dict` (`models/__init__.py`) builds this architecture under (`wrn-40-2` →
    /// `wrn_40_2`, `vgg8` → `vgg8`, whose class is `vgg8_bn`), or nil when RepDistiller has no model with these
    /// parameter names: torchvision's `resnet18/34/50` (RepDistiller's `ResNet50` is its `resnetv2` with other
    /// names), `mlp`, `cnn`, and CIFAR ResNet depths it does not list (`resnet26`).
    public static func repDistillerName(_ arch: String) -> String? {
        var name = arch.lowercased().replacingOccurrences(of: "-", with: "_")
        if name.hasSuffix("_bn") { name.removeLast(3) }
        return repDistillerNames.contains(name) ? name : nil
    }

    /// An architecture resolved from its name, with everything needed to count or build it.
    enum Spec {
        case cifarResNet(blocks: Int, widths: [Int])
        case torchvisionResNet(blocks: [Int], bottleneck: Bool)
        case wideResNet(blocks: Int, widen: Int)
        case vgg([[Int]])
        case mlp(features: Int, widths: [Int])
        case cnn(widths: [Int])
    }

    /// Builds an architecture by name.
    /// - Parameters:
    ///   - arch: a name from `architectures` (case-insensitive; `_` and `-` interchangeable; `vgg8_bn` = `vgg8`).
    ///   - channels: input channels (1 for 28x28 grey images, 3 for RGB).
    ///   - classes: output classes (logits `[N, classes]`).
    ///   - widths: hidden widths for `mlp`, block widths for `cnn` (ignored by the others).
    ///   - inputSize: `[H, W]` of the input, needed only by `mlp` (its first layer has C·H·W inputs);
    ///     default 28x28 for one channel, else 32x32.
    ///   - seed: seed of the weight initialisation.
    ///   - initialize: false skips the random draws (zero weights) for a model about to `load` a checkpoint.
    /// - Throws: `NetworkError.unknownArchitecture` (listing the known names, with a close match),
    ///   `.invalidConfiguration` for non-positive sizes or impossible depths, `.tooLarge` above `parameterLimit`
    ///   (checked in closed form before anything is allocated).
    public static func make(
        _ arch: String, channels: Int, classes: Int, widths: [Int]? = nil,
        inputSize: [Int]? = nil, seed: UInt64 = 0, initialize: Bool = true
    ) throws -> Model {
        let (name, spec) = try resolve(arch, channels: channels, classes: classes, widths: widths, inputSize: inputSize)
        let count = parameters(spec, channels: channels, classes: classes)
        guard count <= Double(parameterLimit) else {
            throw NetworkError.tooLarge(
                architecture: name, parameters: count < 9e18 ? Int(count) : Int.max, limit: parameterLimit)
        }
        var rng = initialize ? WeightInit(seed: seed) : .skip
        switch spec {
        case .cifarResNet(let n, let w):
            return cifarResNet(name, blocks: n, widths: w, channels: channels, classes: classes, initializer: &rng)
        case .torchvisionResNet(let b, let bottleneck):
            return torchvisionResNet(
                name, b, bottleneck: bottleneck, channels: channels, classes: classes, initializer: &rng)
        case .wideResNet(let n, let k):
            return wideResNet(name, blocks: n, widen: k, channels: channels, classes: classes, initializer: &rng)
        case .vgg(let cfg): return vggNet(name, cfg, channels: channels, classes: classes, initializer: &rng)
        case .mlp(let features, let w): return mlp(features, w, classes: classes, initializer: &rng)
        case .cnn(let w): return cnn(w, channels: channels, classes: classes, initializer: &rng)
        }
    }

    /// The parameter count of `make(arch, ...)` in closed form, without building anything (may exceed
    /// `parameterLimit`).
    /// - Throws: as `make`, except `.tooLarge`.
    public static func parameterCount(
        _ arch: String, channels: Int, classes: Int, widths: [Int]? = nil,
        inputSize: [Int]? = nil
    ) throws -> Double {
        let spec = try resolve(arch, channels: channels, classes: classes, widths: widths, inputSize: inputSize).spec
        return parameters(spec, channels: channels, classes: classes)
    }

    static func parameters(_ spec: Spec, channels: Int, classes: Int) -> Double {
        switch spec {
        case .cifarResNet(let n, let w): return cifarResNetParameters(n, w, channels, classes)
        case .torchvisionResNet(let b, let bottleneck):
            return torchvisionResNetParameters(b, bottleneck, channels, classes)
        case .wideResNet(let n, let k): return wideResNetParameters(n, k, channels, classes)
        case .vgg(let cfg): return vggParameters(cfg, channels, classes)
        case .mlp(let features, let w): return mlpParameters(features, w, classes)
        case .cnn(let w): return cnnParameters(w, channels, classes)
        }
    }

    /// Parses and validates a name and its options.
    static func resolve(_ arch: String, channels: Int, classes: Int, widths: [Int]?, inputSize: [Int]?) throws -> (
        name: String, spec: Spec
    ) {
        let name = arch.lowercased().replacingOccurrences(of: "_", with: "-")
        guard channels > 0, classes > 0 else {
            throw NetworkError.invalidConfiguration(
                architecture: name, reason: "channels (\(channels)) and classes (\(classes)) must be positive")
        }
        let cifar: [String: (depth: Int, widths: [Int])] = [
            "resnet8x4": (8, [32, 64, 128, 256]), "resnet32x4": (32, [32, 64, 128, 256]),
        ]
        let imagenet: [String: (blocks: [Int], bottleneck: Bool)] = [
            "resnet18": ([2, 2, 2, 2], false), "resnet34": ([3, 4, 6, 3], false), "resnet50": ([3, 4, 6, 3], true),
        ]
        let vgg: [String: [[Int]]] = [
            "vgg8": [[64], [128], [256], [512], [512]],
            "vgg11": [[64], [128], [256, 256], [512, 512], [512, 512]],
            "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
            "vgg16": [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]],
            "vgg19": [[64, 64], [128, 128], [256, 256, 256, 256], [512, 512, 512, 512], [512, 512, 512, 512]],
        ]
        if let spec = imagenet[name] {
            return (name, .torchvisionResNet(blocks: spec.blocks, bottleneck: spec.bottleneck))
        }
        if let spec = cifar[name] ?? cifarDepth(name).map({ ($0, [16, 16, 32, 64]) }) {
            guard spec.depth >= 8, (spec.depth - 2) % 6 == 0 else {
                throw NetworkError.invalidConfiguration(
                    architecture: name, reason: "depth \(spec.depth) is not 6n+2 (8, 14, 20, 32, ...)")
            }
            return (name, .cifarResNet(blocks: try blockCount((spec.depth - 2) / 6, name), widths: spec.widths))
        }
        if let wrn = try wideResNetSpec(name) {
            return (name, .wideResNet(blocks: try blockCount(wrn.n, name), widen: wrn.k))
        }
        let plain = name.hasSuffix("-bn") ? String(name.dropLast(3)) : name
        if let cfg = vgg[plain] { return (plain, .vgg(cfg)) }
        if name == "mlp" || name == "cnn" {
            let w = widths ?? (name == "mlp" ? [256, 128] : [32, 64, 128])
            guard !w.isEmpty, w.allSatisfy({ $0 > 0 }) else {
                throw NetworkError.invalidConfiguration(
                    architecture: name, reason: "widths \(w) must be a non-empty list of positive sizes")
            }
            _ = try blockCount(w.count, name)
            if name == "cnn" { return (name, .cnn(widths: w)) }
            let size = inputSize ?? (channels == 1 ? [28, 28] : [32, 32])
            guard size.count == 2, size.allSatisfy({ $0 > 0 && $0 <= 1 << 20 }) else {
                throw NetworkError.invalidConfiguration(
                    architecture: name, reason: "inputSize \(size) must be [H, W] with sizes in 1...1048576")
            }
            let features = channels.multipliedReportingOverflow(by: size[0] * size[1])
            guard !features.overflow else {
                throw NetworkError.invalidConfiguration(
                    architecture: name, reason: "\(channels)x\(size[0])x\(size[1]) inputs overflow")
            }
            return (name, .mlp(features: features.partialValue, widths: w))
        }
        throw NetworkError.unknownArchitecture(
            arch, known: architectures, suggestion: closest(to: name, in: architectures))
    }

    /// Most blocks per stage (ResNet/WRN) or layers (MLP/CNN); the deepest published CIFAR ResNet, resnet1202, has 200.
    public static let maxBlocks = 1000

    /// `n` when it is at most `maxBlocks`.
    static func blockCount(_ n: Int, _ name: String) throws -> Int {
        guard n <= maxBlocks else {
            throw NetworkError.invalidConfiguration(
                architecture: name, reason: "\(n) blocks exceed the maximum of \(maxBlocks)")
        }
        return n
    }

    /// `resnetD` → D for the CIFAR family (not the torchvision depths 18/34/50).
    static func cifarDepth(_ name: String) -> Int? {
        guard name.hasPrefix("resnet"), let d = Int(name.dropFirst(6)), ![18, 34, 50].contains(d) else { return nil }
        return d
    }

    /// `wrn-D-K` → (blocks per group n = (D−4)/6, widen factor K); nil when the name is not a WRN.
    static func wideResNetSpec(_ name: String) throws -> (n: Int, k: Int)? {
        let parts = name.split(separator: "-")
        guard parts.count == 3, parts[0] == "wrn", let d = Int(parts[1]), let k = Int(parts[2]) else { return nil }
        guard d >= 10, (d - 4) % 6 == 0, k >= 1 else {
            throw NetworkError.invalidConfiguration(
                architecture: name, reason: "wrn-D-K needs depth D = 6n+4 >= 10 and widen factor K >= 1")
        }
        return ((d - 4) / 6, k)
    }

    /// The known name closest in edit distance (at most 3 edits), for "did you mean".
    static func closest(to name: String, in known: [String]) -> String? {
        // No known name is longer than a few dozen characters: a longer one (from a file) is not a typo of one,
        // and comparing it would cost its length times each name's.
        guard name.utf8.count <= 64 else { return nil }
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row = Array(0...b.count)
            for i in 1...max(a.count, 1) where !a.isEmpty {
                var prev = row[0]
                row[0] = i
                for j in stride(from: 1, through: b.count, by: 1) {
                    let cur = row[j]
                    row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                    prev = cur
                }
            }
            return a.isEmpty ? b.count : row[b.count]
        }
        let scored = known.map { ($0, distance(Array(name), Array($0))) }.min { $0.1 < $1.1 }
        return scored.flatMap { $0.1 <= 3 ? $0.0 : nil }
    }
}
