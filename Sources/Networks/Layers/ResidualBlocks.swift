import Tensors

/// The ResNet basic block (He et al. 2016; torchvision `BasicBlock`, RepDistiller `models/resnet.py`):
/// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), 3x3 convolutions, the first with `stride`.
/// `[N, Cin, H, W]` → `[N, planes, H/stride, W/stride]`. The shortcut is `downsample` = 1x1 conv (stride) + BN
/// when the stride or width changes, else identity. Children: `conv1 bn1 relu conv2 bn2 downsample`.
public final class BasicBlock: Layer {
    /// Output channels over `planes` (1 for the basic block).
    public static let expansion = 1
    /// 3x3 convolutions (`conv1` strided) and their BatchNorms.
    public let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm
    /// `Sequential(Conv2d 1x1, BatchNorm2d)` named `downsample.0`/`downsample.1`, or nil for identity.
    public let downsample: Sequential?

    /// - Precondition: positive sizes.
    public init(_ inPlanes: Int, _ planes: Int, stride: Int = 1, initializer rng: inout WeightInit) {
        conv1 = Conv2d(inPlanes, planes, kernel: 3, stride: stride, padding: 1, initializer: &rng)
        bn1 = BatchNorm(planes)
        conv2 = Conv2d(planes, planes, kernel: 3, padding: 1, initializer: &rng)
        bn2 = BatchNorm(planes)
        downsample =
            stride != 1 || inPlanes != planes
            ? Sequential([Conv2d(inPlanes, planes, kernel: 1, stride: stride, initializer: &rng), BatchNorm(planes)])
            : nil
    }

    /// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)) as one fused op (`convBatchNormBlock`).
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        let main = [bn1.unit(after: conv1, relu: true), bn2.unit(after: conv2, relu: true)]
        let y = try convBatchNormBlock(x, main: main, shortcut: shortcutUnit(downsample), training: training)
        countBatches([bn1, bn2], downsample, training: training)
        return y
    }

    public var children: [(String, Layer)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
            + (downsample.map { [("downsample", $0)] } ?? [])
    }

    public func profile(_ input: [Int]) throws -> LayerProfile {
        let main = try profileChain([conv1, bn1, conv2, bn2], input)
        let short = try downsample?.profile(input) ?? LayerProfile(output: input, macs: 0)
        guard main.output == short.output else {
            throw TensorError.shapeMismatch(op: "BasicBlock add", lhs: main.output, rhs: short.output)
        }
        return LayerProfile(output: main.output, macs: main.macs + short.macs)
    }
}

/// The ResNet bottleneck block (torchvision `Bottleneck`, "ResNet v1.5": the stride sits on the 3x3 conv):
/// 1x1 conv to `planes`, 3x3 conv (stride), 1x1 conv to `4·planes`, each with BN; ReLU after the first two
/// and after the residual add. `[N, Cin, H, W]` → `[N, 4·planes, H/stride, W/stride]`.
/// Children: `conv1 bn1 conv2 bn2 conv3 bn3 relu downsample`.
public final class Bottleneck: Layer {
    /// Output channels over `planes`.
    public static let expansion = 4
    /// 1x1 reduce, 3x3 (strided), 1x1 expand convolutions and their BatchNorms.
    public let conv1: Conv2d, bn1: BatchNorm, conv2: Conv2d, bn2: BatchNorm, conv3: Conv2d, bn3: BatchNorm
    /// `Sequential(Conv2d 1x1, BatchNorm2d)`, or nil for identity.
    public let downsample: Sequential?

    /// - Precondition: positive sizes.
    public init(_ inPlanes: Int, _ planes: Int, stride: Int = 1, initializer rng: inout WeightInit) {
        let out = planes * Bottleneck.expansion
        conv1 = Conv2d(inPlanes, planes, kernel: 1, initializer: &rng)
        bn1 = BatchNorm(planes)
        conv2 = Conv2d(planes, planes, kernel: 3, stride: stride, padding: 1, initializer: &rng)
        bn2 = BatchNorm(planes)
        conv3 = Conv2d(planes, out, kernel: 1, initializer: &rng)
        bn3 = BatchNorm(out)
        downsample =
            stride != 1 || inPlanes != out
            ? Sequential([Conv2d(inPlanes, out, kernel: 1, stride: stride, initializer: &rng), BatchNorm(out)]) : nil
    }

    /// relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)) as one fused op (`convBatchNormBlock`).
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        let main = [
            bn1.unit(after: conv1, relu: true), bn2.unit(after: conv2, relu: true), bn3.unit(after: conv3, relu: true),
        ]
        let y = try convBatchNormBlock(x, main: main, shortcut: shortcutUnit(downsample), training: training)
        countBatches([bn1, bn2, bn3], downsample, training: training)
        return y
    }

    public var children: [(String, Layer)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2), ("conv3", conv3), ("bn3", bn3)]
            + (downsample.map { [("downsample", $0)] } ?? [])
    }

    public func profile(_ input: [Int]) throws -> LayerProfile {
        let main = try profileChain([conv1, bn1, conv2, bn2, conv3, bn3], input)
        let short = try downsample?.profile(input) ?? LayerProfile(output: input, macs: 0)
        guard main.output == short.output else {
            throw TensorError.shapeMismatch(op: "Bottleneck add", lhs: main.output, rhs: short.output)
        }
        return LayerProfile(output: main.output, macs: main.macs + short.macs)
    }
}

/// The pre-activation wide-ResNet block (Zagoruyko & Komodakis 2016; RepDistiller `models/wrn.py` `BasicBlock`).
/// With equal widths: x + conv2(relu(bn2(conv1(relu(bn1(x)))))). With a width or stride change the activation
/// a = relu(bn1(x)) also feeds the shortcut: convShortcut(a) + conv2(relu(bn2(conv1(a)))).
/// `[N, Cin, H, W]` → `[N, Cout, H/stride, W/stride]`. Children: `bn1 conv1 bn2 conv2 convShortcut`
/// (`convShortcut` only when widths differ, as RepDistiller; dropout is not used, dropRate 0).
public final class WideBasicBlock: Layer {
    /// Pre-activation BatchNorms and the two 3x3 convolutions (`conv1` strided).
    public let bn1: BatchNorm, conv1: Conv2d, bn2: BatchNorm, conv2: Conv2d
    /// 1x1 conv (stride) when input and output widths differ, else nil.
    public let convShortcut: Conv2d?

    /// - Precondition: positive sizes.
    public init(_ inPlanes: Int, _ outPlanes: Int, stride: Int, initializer rng: inout WeightInit) {
        bn1 = BatchNorm(inPlanes)
        conv1 = Conv2d(inPlanes, outPlanes, kernel: 3, stride: stride, padding: 1, initializer: &rng)
        bn2 = BatchNorm(outPlanes)
        conv2 = Conv2d(outPlanes, outPlanes, kernel: 3, padding: 1, initializer: &rng)
        convShortcut =
            inPlanes != outPlanes ? Conv2d(inPlanes, outPlanes, kernel: 1, stride: stride, initializer: &rng) : nil
    }

    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        let a = try bn1(x, training: training, relu: true)
        let out = try conv2(bn2(conv1(a, training: training), training: training, relu: true), training: training)
        return try (convShortcut?(a, training: training) ?? x) + out
    }

    public var children: [(String, Layer)] {
        [("bn1", bn1), ("conv1", conv1), ("bn2", bn2), ("conv2", conv2)]
            + (convShortcut.map { [("convShortcut", $0)] } ?? [])
    }

    public func profile(_ input: [Int]) throws -> LayerProfile {
        let main = try profileChain([bn1, conv1, bn2, conv2], input)
        let short = try convShortcut?.profile(input) ?? LayerProfile(output: input, macs: 0)
        guard main.output == short.output else {
            throw TensorError.shapeMismatch(op: "WideBasicBlock add", lhs: main.output, rhs: short.output)
        }
        return LayerProfile(output: main.output, macs: main.macs + short.macs)
    }
}

/// The shortcut `Sequential(Conv2d, BatchNorm2d)` of a ResNet block as a fused unit (nil for the identity).
private func shortcutUnit(_ downsample: Sequential?) -> ConvBatchNormUnit? {
    guard let downsample, let conv = downsample.layers[0].1 as? Conv2d, let bn = downsample.layers[1].1 as? BatchNorm
    else { return nil }
    return bn.unit(after: conv, relu: false)
}

/// Counts a training batch in each of a block's batch norms (the shortcut's too).
private func countBatches(_ norms: [BatchNorm], _ downsample: Sequential?, training: Bool) {
    for bn in norms + [downsample?.layers[1].1 as? BatchNorm].compactMap({ $0 }) { bn.countBatch(training: training) }
}
