import Tensors

/// A network split into a stem, stages and a head — the structure Stage-by-Stage Knowledge Distillation
/// (Gao et al., arXiv 1812.01819) works on: the student mimics the teacher's feature map at the end of each
/// stage, one stage at a time, then trains the head.
///
/// Names: the model's top-level modules carry PyTorch's attribute names (`conv1`, `bn1`, `layer1`, `fc`), so
/// `stateDict()` keys equal `torch.nn.Module.state_dict()` keys of the matching PyTorch definition.
///
/// Execution: the top-level modules, with every `Sequential` opened up, form a flat list of *units*
/// (`conv1`, `bn1`, `relu`, `layer1.0`, `layer1.1`, ..., `avgpool`, `flatten`, `fc`) run in order. A stage is
/// a contiguous run of units; the head is the final run (global pool, flatten, classifier, plus any final
/// BN/ReLU such as WRN's `bn1`). Convention: the stem (`conv1 bn1 relu`, plus `maxpool` for ImageNet ResNets)
/// belongs to stage 0 for mimicking, so stage 0's output is `layer1(stem(x))`.
/// Stage indices are 0-based: `stages[0]` is the paper's "stage 1".
public final class Model: Layer {
    /// One step of the forward pass: a module reached by opening `Sequential`s.
    struct Unit {
        /// Dotted path, e.g. `layer2.1`.
        let path: String
        let layer: Layer
        /// Parameter-free ops that belong to the unit before them (VGG's ReLU after a block): a stage never starts
        /// here.
        let attached: Bool
    }

    /// Architecture name as given to `Zoo.make` (e.g. `resnet20`).
    public let architecture: String
    /// Top-level modules in execution order (`model._modules`).
    let modules: [(String, Layer)]
    let units: [Unit]
    /// Units `0..<stemEnd` form the stem; units `headStart...` form the head.
    let stemEnd: Int, headStart: Int
    /// The architecture's natural split: stage names and exclusive unit ends.
    let defaultSplit: [(name: String, end: Int)]
    /// Current split.
    var split: [(name: String, end: Int)]
    /// Per unit: frozen (parameters without gradients, BatchNorm in eval mode).
    var frozen: [Bool]

    /// Builds a model from its parts, in execution order.
    /// - Parameters:
    ///   - stem: modules before the first stage's main body (part of stage 0).
    ///   - stages: named groups of modules; each group's end is a default split point.
    ///   - head: final modules (pooling, flatten, classifier).
    ///   - attached: names of parameter-free top-level modules that must stay with the module before them.
    /// - Precondition: at least one stage; unique names (the zoo's own construction).
    public init(
        architecture: String, stem: [(String, Layer)], stages: [(name: String, modules: [(String, Layer)])],
        head: [(String, Layer)], attached: Set<String> = []
    ) {
        precondition(!stages.isEmpty, "Model needs at least one stage")
        self.architecture = architecture
        modules = stem + stages.flatMap(\.modules) + head
        precondition(Set(modules.map(\.0)).count == modules.count, "Model: duplicate module names")
        func open(_ name: String, _ layer: Layer, _ attached: Bool) -> [Unit] {
            guard let seq = layer as? Sequential else { return [Unit(path: name, layer: layer, attached: attached)] }
            return seq.layers.flatMap { open(name + "." + $0.0, $0.1, attached) }
        }
        func openAll(_ list: [(String, Layer)]) -> [Unit] { list.flatMap { open($0.0, $0.1, attached.contains($0.0)) } }
        var units = openAll(stem)
        stemEnd = units.count
        var ends: [(name: String, end: Int)] = []
        for stage in stages {
            units += openAll(stage.modules)
            ends.append((stage.name, units.count))
        }
        headStart = units.count
        units += openAll(head)
        self.units = units
        defaultSplit = ends
        split = ends
        frozen = Array(repeating: false, count: units.count)
        for (key, tensor) in stateDict() { tensor.name = key }
    }

    // MARK: Layer

    /// The whole network: `[N, C, H, W]` (or `[N, features]` for the MLP) → logits `[N, classes]`.
    /// - Throws: `TensorError` when the input does not fit (wrong channel count, too small).
    public func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor { try forward(x, training: training) }
    public var children: [(String, Layer)] { modules }
    public func profile(_ input: [Int]) throws -> LayerProfile { try profileChain(units.map(\.layer), input) }

    // MARK: Structure

    /// A contiguous group of units with a name, e.g. `layer2` (`modules` lists the unit paths).
    public struct Stage: Equatable {
        /// Stage name: the split point (`layer1`, `layer2.1`, `block0`, `head`, `stem`).
        public let name: String
        /// Unit paths in execution order, e.g. `["conv1", "bn1", "relu", "layer1.0"]`.
        public let modules: [String]
        /// Whether every unit is frozen (no gradients, BatchNorm in eval mode).
        public let isFrozen: Bool
        /// Index range into the model's unit list (the entries of `unitCosts(inputShape:)` this stage covers).
        public let range: Range<Int>
    }

    func stage(_ name: String, _ range: Range<Int>) -> Stage {
        Stage(
            name: name, modules: units[range].map(\.path), isFrozen: !range.isEmpty && frozen[range].allSatisfy { $0 },
            range: range)
    }

    /// The stem (part of `stages[0]`; may be empty, as for the teaching CNN).
    public var stem: Stage { stage("stem", 0..<stemEnd) }
    /// The stages in order; `stages[0]` starts with the stem, the last one ends where the head starts.
    public var stages: [Stage] {
        var start = 0
        return split.map { s in
            defer { start = s.end }
            return stage(s.name, start..<s.end)
        }
    }
    /// The head: global pool, flatten and classifier (plus final BN/ReLU where the architecture has them).
    public var head: Stage { stage("head", headStart..<units.count) }

    // MARK: Forward

    /// Runs units `range` on `x`. A BatchNorm followed by a ReLU in the same range and the same mode (both frozen or
    /// neither; the stem's `bn1`, `relu`) runs as one fused op (`BatchNorm(_:training:relu:)`: bit for bit the two
    /// ops' values and gradients, without the pass that writes the intermediate tensor and the one that reads it).
    func run(_ x: Tensor, _ range: Range<Int>, training: Bool) throws -> Tensor {
        var y = x
        var i = range.lowerBound
        while i < range.upperBound {
            let mode = training && !frozen[i]
            if let bn = units[i].layer as? BatchNorm, i + 1 < range.upperBound, units[i + 1].layer is ReLU,
                frozen[i + 1] == frozen[i]
            {
                y = try bn(y, training: mode, relu: true)
                i += 2
            } else {
                y = try units[i].layer(y, training: mode)
                i += 1
            }
        }
        return y
    }

    /// Logits `[N, classes]` for input `x`. Frozen units run in eval mode even when `training` is true.
    /// - Throws: `TensorError` when `x` does not fit the network.
    public func forward(_ x: Tensor, training: Bool) throws -> Tensor {
        try run(x, 0..<units.count, training: training)
    }

    /// The feature map at the end of stage `index` (0-based; stage 0 includes the stem), e.g.
    /// `[N, 16, 28, 28]` after `layer1` of resnet20 on `[N, 1, 28, 28]` — what SSKD's student mimics.
    /// - Throws: `NetworkError.stageOutOfRange`, or `TensorError` when `x` does not fit.
    public func forward(_ x: Tensor, throughStage index: Int, training: Bool = false) throws -> Tensor {
        let all = stages
        guard all.indices.contains(index) else { throw NetworkError.stageOutOfRange(index, count: all.count) }
        return try run(x, 0..<all[index].range.upperBound, training: training)
    }

    /// Runs only stage `index` on `x`, the output of the previous stage (or the input for stage 0).
    /// - Throws: `NetworkError.stageOutOfRange`, or `TensorError` when `x` does not fit.
    public func forward(stage index: Int, _ x: Tensor, training: Bool = false) throws -> Tensor {
        let all = stages
        guard all.indices.contains(index) else { throw NetworkError.stageOutOfRange(index, count: all.count) }
        return try run(x, all[index].range, training: training)
    }

    /// Runs only the head on the last stage's feature map, giving logits `[N, classes]`.
    /// - Throws: `TensorError` when `x` does not fit.
    public func forwardHead(_ x: Tensor, training: Bool = false) throws -> Tensor {
        try run(x, head.range, training: training)
    }

    /// The feature map after every stage, in one pass: one tensor per stage.
    /// - Throws: `TensorError` when `x` does not fit.
    public func features(_ x: Tensor, training: Bool = false) throws -> [Tensor] {
        var y = x
        return try stages.map { s in
            y = try run(y, s.range, training: training)
            return y
        }
    }

    /// What one execution unit costs per image, for compute accounting (`Distillation.ComputeCost`).
    public struct UnitCost: Equatable {
        /// Dotted unit path, e.g. `layer2.0`.
        public let path: String
        /// Multiply-accumulates of one forward pass for one image (`Layer.profile` at batch 1).
        public let macs: Int
        /// Whether the unit has parameters that train now (not frozen, at least one parameter).
        public let trains: Bool
    }

    /// The per-image forward cost of every unit, in execution order, for an input of shape `inputShape`
    /// (`[1, C, H, W]`, or `[1, features]` for the MLP). Index `i` matches `stages[k].range` and `head.range`.
    /// - Throws: `TensorError` when `inputShape` does not fit the network.
    public func unitCosts(inputShape: [Int]) throws -> [UnitCost] {
        var shape = inputShape
        return try units.enumerated().map { i, unit in
            let p = try unit.layer.profile(shape)
            shape = p.output
            let per = p.macs / max(inputShape.first ?? 1, 1)
            return UnitCost(path: unit.path, macs: per, trains: !frozen[i] && !unit.layer.namedParameters().isEmpty)
        }
    }

    /// All parameters, in `named_parameters()` order (give these to an optimizer; frozen ones are skipped by it).
    public func parameters() -> [Tensor] { namedParameters().map(\.1) }
}
