// Freezing parts of a model (SSKD trains one student stage at a time with the others fixed).
//
// Semantics: a frozen module's parameters get `requiresGrad = false` (no gradient, never updated by an
// optimizer), and the module runs in eval mode even when the model is called with `training: true`, so
// BatchNorm uses — and never updates — its running statistics and dropout is off. (In PyTorch,
// `requires_grad_(False)` alone still updates BatchNorm running stats in train mode, a common trap.)

extension Model {
    /// What to freeze or unfreeze.
    public enum Part: Equatable {
        /// Stage `index` (0-based; stage 0 includes the stem).
        case stage(Int)
        /// The stage with this name (e.g. `layer2`).
        case stageNamed(String)
        /// Every stage (all but the head): fine-tune the classifier only.
        case backbone
        /// The head.
        case head
        /// The whole model.
        case all
    }

    func range(of part: Part) throws -> Range<Int> {
        switch part {
        case .stage(let index):
            let all = stages
            guard all.indices.contains(index) else { throw NetworkError.stageOutOfRange(index, count: all.count) }
            return all[index].range
        case .stageNamed(let name):
            guard let s = stages.first(where: { $0.name == name }) else {
                throw NetworkError.unknownStage(name, known: stages.map(\.name) + ["head"])
            }
            return s.range
        case .backbone: return 0..<headStart
        case .head: return headStart..<units.count
        case .all: return 0..<units.count
        }
    }

    /// Freezes `part`: its parameters stop requiring gradients and its modules run in eval mode.
    /// - Throws: `NetworkError.stageOutOfRange` / `.unknownStage` for a stage that does not exist.
    public func freeze(_ part: Part) throws { try setFrozen(part, true) }

    /// Undoes `freeze`: parameters require gradients again and `training` reaches the modules.
    /// - Throws: `NetworkError.stageOutOfRange` / `.unknownStage` for a stage that does not exist.
    public func unfreeze(_ part: Part) throws { try setFrozen(part, false) }

    private func setFrozen(_ part: Part, _ value: Bool) throws {
        for i in try range(of: part) {
            frozen[i] = value
            for (_, p) in units[i].layer.namedParameters() { p.requiresGrad = !value }
        }
    }
}
