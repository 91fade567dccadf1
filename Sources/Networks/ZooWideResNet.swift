import Tensors

// Wide ResNets (Zagoruyko & Komodakis 2016) with RepDistiller `models/wrn.py` names.

extension Zoo {
    /// WRN-(6n+4)-k: stem `conv1` (3x3, 16); `block1..3`, each a `NetworkBlock` (`blockK.layer.i`) of n
    /// pre-activation blocks with 16k, 32k, 64k channels, strides 1, 2, 2; head `bn1` `relu` `avgpool`
    /// `flatten` `fc`. Stage outputs are the blocks' (pre-activation) outputs, as RepDistiller's features.
    static func wideResNet(
        _ name: String, blocks n: Int, widen k: Int, channels: Int, classes: Int,
        initializer rng: inout WeightInit
    ) -> Model {
        let w = [16, 16 * k, 32 * k, 64 * k]
        let stages = (1...3).map { s -> (name: String, modules: [(String, Layer)]) in
            let layer = Sequential(
                (0..<n).map { i -> Layer in
                    WideBasicBlock(i == 0 ? w[s - 1] : w[s], w[s], stride: i == 0 && s > 1 ? 2 : 1, initializer: &rng)
                })
            return ("block\(s)", [("block\(s)", Sequential(named: [("layer", layer)]))])
        }
        return Model(
            architecture: name, stem: [("conv1", Conv2d(channels, 16, kernel: 3, padding: 1, initializer: &rng))],
            stages: stages,
            head: [
                ("bn1", BatchNorm(w[3])), ("relu", ReLU()), ("avgpool", GlobalAvgPool2d()), ("flatten", Flatten()),
                ("fc", Linear(w[3], classes, initializer: &rng)),
            ])
    }

    static func wideResNetParameters(_ n: Int, _ k: Int, _ channels: Int, _ classes: Int) -> Double {
        let w = [16, 16 * Double(k), 32 * Double(k), 64 * Double(k)]
        var total = Double(channels) * 16 * 9 + 2 * w[3] + (w[3] + 1) * Double(classes)
        for s in 1...3 {
            for i in 0..<n {
                let inP = i == 0 ? w[s - 1] : w[s]
                let o = w[s]
                total += 2 * inP + inP * o * 9 + 2 * o + o * o * 9 + (inP != o ? inP * o : 0)
            }
        }
        return total
    }
}
