// Choosing the stage boundaries of a model (SSKD, Gao et al. arXiv 1812.01819, splits a ResNet at its
// layer groups, where the spatial resolution halves).

extension Model {
    /// Restores the architecture's natural split: ResNet `layer1..layerK`, WRN `block1..block3`, VGG
    /// `block0..block4`, each teaching-CNN block, each MLP hidden layer.
    public func splitAutomatically() { split = defaultSplit }

    /// Splits the backbone so that each named module ends a stage, e.g. `["layer1", "layer2.1"]` gives
    /// stages `layer1` (stem + layer1), `layer2.1` (layer2.0, layer2.1) and a last stage up to the head named
    /// after its last module (`layer3`). A name matches a unit path or any prefix of paths at a dot
    /// (`layer2` covers `layer2.0`, `layer2.1`, ...). Parameter-free ops attached to a module (VGG's ReLU after
    /// a block) stay with it. Freezing is per module, so it survives a re-split.
    /// - Throws: `NetworkError.invalidSplit` when a name is unknown (listing the valid names), lies in the
    ///   head, or the names are not in execution order.
    public func split(at names: [String]) throws {
        guard !names.isEmpty else { throw NetworkError.invalidSplit("give at least one module name") }
        var ends: [(name: String, end: Int)] = []
        for name in names {
            guard let last = units.lastIndex(where: { $0.path == name || $0.path.hasPrefix(name + ".") }) else {
                throw NetworkError.invalidSplit(
                    "no module '\(name)' in \(architecture); split points: "
                        + splitPoints.joined(separator: ", "))
            }
            var end = last + 1
            while end < units.count && units[end].attached { end += 1 }
            guard end <= headStart else { throw NetworkError.invalidSplit("'\(name)' is part of the head") }
            guard end > (ends.last?.end ?? 0) else {
                throw NetworkError.invalidSplit(
                    "'\(name)' does not come after '\(ends.last?.name ?? "")'; give names in forward order")
            }
            ends.append((name, end))
        }
        if let lastEnd = ends.last?.end, lastEnd < headStart {
            let top = units[(lastEnd..<headStart).last(where: { !units[$0].attached }) ?? headStart - 1].path
            ends.append((String(top.prefix { $0 != "." }), headStart))
        }
        split = ends
    }

    /// Names accepted by `split(at:)`: top-level modules and unit paths before the head, in order.
    public var splitPoints: [String] {
        var seen = Set<String>()
        var out: [String] = []
        for u in units[0..<headStart] where !u.attached {
            for name in [String(u.path.prefix { $0 != "." }), u.path] where seen.insert(name).inserted {
                out.append(name)
            }
        }
        return out
    }
}
