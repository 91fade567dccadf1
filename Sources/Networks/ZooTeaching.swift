import Tensors

// Small teaching models: a multilayer perceptron and a plain CNN, each split into one stage per hidden layer
// or block. Their PyTorch twins are in scripts/make-model-fixtures.py.

extension Zoo {
    /// MLP: stem `flatten` (`[N, C, H, W]` → `[N, C·H·W]`); stage `layerK` = `Sequential(Linear, ReLU)` per
    /// hidden width (`layerK.0.weight`); head `fc`.
    static func mlp(_ features: Int, _ widths: [Int], classes: Int, initializer rng: inout WeightInit) -> Model {
        var inF = features
        let stages = widths.enumerated().map { i, w -> (name: String, modules: [(String, Layer)]) in
            defer { inF = w }
            return ("layer\(i + 1)", [("layer\(i + 1)", Sequential([Linear(inF, w, initializer: &rng), ReLU()]))])
        }
        return Model(
            architecture: "mlp", stem: [("flatten", Flatten())], stages: stages,
            head: [("fc", Linear(inF, classes, initializer: &rng))])
    }

    static func mlpParameters(_ features: Int, _ widths: [Int], _ classes: Int) -> Double {
        let sizes = ([features] + widths + [classes]).map(Double.init)
        return zip(sizes, sizes.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 + $1.1 }
    }

    /// Plain CNN: stage `layerK` = `Sequential(Conv2d 3x3 (no bias), BatchNorm2d, ReLU, MaxPool2d 2)` per width
    /// (`layerK.0.weight`, `layerK.1.running_mean`), halving the resolution each; head `avgpool` `flatten` `fc`.
    static func cnn(_ widths: [Int], channels: Int, classes: Int, initializer rng: inout WeightInit) -> Model {
        var inC = channels
        let stages = widths.enumerated().map { i, w -> (name: String, modules: [(String, Layer)]) in
            defer { inC = w }
            let block = Sequential([
                Conv2d(inC, w, kernel: 3, padding: 1, initializer: &rng), BatchNorm(w), ReLU(), MaxPool2d(kernel: 2),
            ])
            return ("layer\(i + 1)", [("layer\(i + 1)", block)])
        }
        return Model(
            architecture: "cnn", stem: [], stages: stages,
            head: [
                ("avgpool", GlobalAvgPool2d()), ("flatten", Flatten()), ("fc", Linear(inC, classes, initializer: &rng)),
            ])
    }

    static func cnnParameters(_ widths: [Int], _ channels: Int, _ classes: Int) -> Double {
        let sizes = ([channels] + widths).map(Double.init)
        return zip(sizes, sizes.dropFirst()).reduce(0) { $0 + $1.0 * $1.1 * 9 + 2 * $1.1 } + ((sizes.last ?? 0) + 1)
            * Double(classes)
    }
}
