import Tensors

// CIFAR VGG with BatchNorm (Simonyan & Zisserman 2015) with RepDistiller `models/vgg.py` names.

extension Zoo {
    /// VGG: five blocks `block0..4` of conv3x3(bias)-BN-ReLU (the last ReLU of each block applied after it, as
    /// RepDistiller's `F.relu`), max-pooling (`pool0..2`) before blocks 1-3, head `pool4` (global average)
    /// `flatten` `classifier` (512 → classes). RepDistiller applies `pool3` only for 64x64 inputs; this zoo never
    /// does, which matches it for 32x32 and smaller inputs. Stage k is `pool(k−1)`, `blockk`, ReLU.
    static func vggNet(_ name: String, _ cfg: [[Int]], channels: Int, classes: Int, initializer rng: inout WeightInit)
        -> Model
    {
        var inC = channels
        let stages = cfg.enumerated().map { b, widths -> (name: String, modules: [(String, Layer)]) in
            var layers: [Layer] = []
            for v in widths {
                layers += [Conv2d(inC, v, kernel: 3, padding: 1, bias: true, initializer: &rng), BatchNorm(v), ReLU()]
                inC = v
            }
            layers.removeLast()
            let pool: [(String, Layer)] = b >= 1 && b <= 3 ? [("pool\(b - 1)", MaxPool2d(kernel: 2))] : []
            return ("block\(b)", pool + [("block\(b)", Sequential(layers)), ("relu\(b)", ReLU())])
        }
        return Model(
            architecture: name, stem: [], stages: stages,
            head: [
                ("pool4", GlobalAvgPool2d()), ("flatten", Flatten()),
                ("classifier", Linear(inC, classes, initializer: &rng)),
            ],
            attached: Set((0..<cfg.count).map { "relu\($0)" }))
    }

    static func vggParameters(_ cfg: [[Int]], _ channels: Int, _ classes: Int) -> Double {
        var inC = Double(channels)
        var total = 0.0
        for v in cfg.joined().map(Double.init) {
            total += inC * v * 9 + v + 2 * v
            inC = v
        }
        return total + (inC + 1) * Double(classes)
    }
}
