import Tensors

/// Keys that `Model.load(_:strict: false)` skipped (PyTorch's `_IncompatibleKeys`).
public struct IncompatibleKeys: Equatable {
    /// Model keys absent from the given entries (left unchanged).
    public let missing: [String]
    /// Given keys the model does not have (ignored).
    public let unexpected: [String]
}

extension Model {
    /// Copies tensors into the model's parameters and buffers by name (`model.load_state_dict(sd, strict)`).
    ///
    /// Entries are `(state_dict key, tensor)` pairs, e.g. from a safetensors or `.pth` reader. Every shape is
    /// checked before anything is copied, so a failed load leaves the model unchanged. Values are copied into
    /// the existing tensors (optimizers holding them stay valid); `requiresGrad` is kept.
    /// - Parameter strict: when true, missing or unexpected keys are errors; shape mismatches always are.
    /// - Returns: the keys that were missing or unexpected (both empty after a strict load).
    /// - Throws: `NetworkError.stateDictMismatch` listing all missing keys, unexpected keys and shape
    ///   mismatches at once, worded as PyTorch's `load_state_dict` error; `.invalidValues` for a tensor holding
    ///   NaN or infinity, or a BatchNorm `running_var` below zero (a broken checkpoint would otherwise evaluate
    ///   to chance with loss nan, or train to a finite-looking loss).
    @discardableResult
    public func load(_ entries: [(String, Tensor)], strict: Bool = true) throws -> IncompatibleKeys {
        let own = stateDict()
        let given = Dictionary(entries, uniquingKeysWith: { _, last in last })
        let ownKeys = Set(own.map(\.0))
        let missing = own.map(\.0).filter { given[$0] == nil }
        var seen = Set<String>()
        let unexpected = entries.map(\.0).filter { !ownKeys.contains($0) && seen.insert($0).inserted }
        let mismatches = own.compactMap { key, t -> NetworkError.ShapeMismatch? in
            guard let g = given[key], g.shape != t.shape else { return nil }
            return .init(key: key, checkpoint: g.shape, model: t.shape)
        }
        if !mismatches.isEmpty || (strict && !(missing.isEmpty && unexpected.isEmpty)) {
            throw NetworkError.stateDictMismatch(
                model: architecture, missing: strict ? missing : [],
                unexpected: strict ? unexpected : [], shapeMismatches: mismatches)
        }
        for (key, _) in own {
            guard let g = given[key] else { continue }
            if let reason = Self.invalidValue(g.data, variance: key.hasSuffix("running_var")) {
                throw NetworkError.invalidValues(model: architecture, key: key, reason: reason)
            }
        }
        for (key, t) in own { if let g = given[key] { t.data = g.data } }
        return IncompatibleKeys(missing: missing, unexpected: unexpected)
    }

    /// What is wrong with a tensor's values, or nil: the first NaN or infinite element, or, for a variance, the
    /// first negative one.
    static func invalidValue(_ values: [Float], variance: Bool) -> String? {
        if let i = values.firstIndex(where: { !$0.isFinite }) { return "element \(i) is \(values[i])" }
        if variance, let i = values.firstIndex(where: { $0 < 0 }) {
            return "element \(i) is \(values[i]), but a variance cannot be negative"
        }
        return nil
    }
}
