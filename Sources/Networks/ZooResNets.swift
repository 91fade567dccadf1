import Tensors

// ResNets (He et al. 2016): the CIFAR family of RepDistiller `models/resnet.py` and torchvision's ImageNet
// family. Each `...Parameters` function counts the parameters of the same layout in closed form (Double, so
// absurd sizes cannot overflow) for the zoo's size check before allocation.

extension Zoo {
    /// CIFAR ResNet: stem `conv1` (3x3, `widths[0]`) `bn1` `relu`; `layer1..3` of `blocks` BasicBlocks with
    /// `widths[1...3]`, strides 1, 2, 2; head `avgpool` (global) `flatten` `fc`.
    static func cifarResNet(
        _ name: String, blocks n: Int, widths w: [Int], channels: Int, classes: Int,
        initializer rng: inout WeightInit
    ) -> Model {
        var inPlanes = w[0]
        let stem: [(String, Layer)] = [
            ("conv1", Conv2d(channels, w[0], kernel: 3, padding: 1, initializer: &rng)),
            ("bn1", BatchNorm(w[0])), ("relu", ReLU()),
        ]
        let stages = (1...3).map { s -> (name: String, modules: [(String, Layer)]) in
            let layer = Sequential(
                (0..<n).map { i -> Layer in
                    defer { inPlanes = w[s] }
                    return BasicBlock(inPlanes, w[s], stride: i == 0 && s > 1 ? 2 : 1, initializer: &rng)
                })
            return ("layer\(s)", [("layer\(s)", layer)])
        }
        return Model(
            architecture: name, stem: stem, stages: stages,
            head: [
                ("avgpool", GlobalAvgPool2d()), ("flatten", Flatten()),
                ("fc", Linear(w[3], classes, initializer: &rng)),
            ])
    }

    static func cifarResNetParameters(_ n: Int, _ w: [Int], _ channels: Int, _ classes: Int) -> Double {
        let w = w.map(Double.init)
        var total = Double(channels) * w[0] * 9 + 2 * w[0] + (w[3] + 1) * Double(classes)
        var inPlanes = w[0]
        for s in 1...3 {
            total +=
                basicBlockParameters(inPlanes, w[s], downsample: s > 1 || inPlanes != w[s])
                + Double(n - 1) * basicBlockParameters(w[s], w[s], downsample: false)
            inPlanes = w[s]
        }
        return total
    }

    static func basicBlockParameters(_ i: Double, _ o: Double, downsample: Bool) -> Double {
        i * o * 9 + o * o * 9 + 4 * o + (downsample ? i * o + 2 * o : 0)
    }

    static func bottleneckParameters(_ i: Double, _ p: Double, downsample: Bool) -> Double {
        i * p + p * p * 9 + p * 4 * p + 2 * (p + p + 4 * p) + (downsample ? i * 4 * p + 8 * p : 0)
    }

    /// torchvision ResNet: stem `conv1` (7x7/2) `bn1` `relu` `maxpool` (3x3/2); `layer1..4` with 64, 128, 256,
    /// 512 planes (strides 1, 2, 2, 2) of BasicBlocks or Bottlenecks; head `avgpool` `flatten` `fc`.
    static func torchvisionResNet(
        _ name: String, _ blocks: [Int], bottleneck: Bool, channels: Int, classes: Int,
        initializer rng: inout WeightInit
    ) -> Model {
        let expansion = bottleneck ? Bottleneck.expansion : BasicBlock.expansion
        var inPlanes = 64
        let stem: [(String, Layer)] = [
            ("conv1", Conv2d(channels, 64, kernel: 7, stride: 2, padding: 3, initializer: &rng)),
            ("bn1", BatchNorm(64)), ("relu", ReLU()), ("maxpool", MaxPool2d(kernel: 3, stride: 2, padding: 1)),
        ]
        let stages = blocks.enumerated().map { s, count -> (name: String, modules: [(String, Layer)]) in
            let planes = 64 << s
            let layer = Sequential(
                (0..<count).map { i -> Layer in
                    defer { inPlanes = planes * expansion }
                    let stride = i == 0 && s > 0 ? 2 : 1
                    return bottleneck
                        ? Bottleneck(inPlanes, planes, stride: stride, initializer: &rng)
                        : BasicBlock(inPlanes, planes, stride: stride, initializer: &rng)
                })
            return ("layer\(s + 1)", [("layer\(s + 1)", layer)])
        }
        return Model(
            architecture: name, stem: stem, stages: stages,
            head: [
                ("avgpool", GlobalAvgPool2d()), ("flatten", Flatten()),
                ("fc", Linear(512 * expansion, classes, initializer: &rng)),
            ])
    }

    static func torchvisionResNetParameters(_ blocks: [Int], _ bottleneck: Bool, _ channels: Int, _ classes: Int)
        -> Double
    {
        let e: Double = bottleneck ? 4 : 1
        var total = Double(channels) * 64 * 49 + 128 + (512 * e + 1) * Double(classes)
        var inPlanes = 64.0
        for (s, count) in blocks.enumerated() {
            let p = Double(64 << s)
            for i in 0..<count {
                let down = i == 0 && (s > 0 || inPlanes != p * e)
                total +=
                    bottleneck
                    ? bottleneckParameters(inPlanes, p, downsample: down)
                    : basicBlockParameters(inPlanes, p, downsample: down)
                inPlanes = p * e
            }
        }
        return total
    }
}
