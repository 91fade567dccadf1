import Foundation
import Tensors

extension Model {
    /// One row of `summary(inputShape:)`: a stage (or the head) and its cost.
    public struct SummaryRow: Equatable {
        /// Stage name, `head`, or `total`.
        public let name: String
        /// Output shape for the summarised input, e.g. `[1, 16, 32, 32]`.
        public let output: [Int]
        /// Trainable scalars in this part (frozen ones included).
        public let parameters: Int
        /// Multiply-accumulates for the whole input batch (conv: output elements × Cin/groups × kH × kW;
        /// linear: output elements × in_features).
        public let macs: Int
        /// Whether the part is frozen.
        public let isFrozen: Bool
    }

    /// Per-stage output shapes, parameter counts and MACs for an input shape, then the head and a total,
    /// computed from shapes alone (nothing is run).
    /// - Throws: `TensorError` when `inputShape` does not fit the network (e.g. wrong channel count).
    public func summaryRows(inputShape: [Int]) throws -> [SummaryRow] {
        var shape = inputShape
        var rows: [SummaryRow] = []
        for part in stages + [head] {
            let p = try profileChain(units[part.range].map(\.layer), shape)
            let params = units[part.range].reduce(0) { $0 + $1.layer.parameterCount }
            rows.append(
                SummaryRow(name: part.name, output: p.output, parameters: params, macs: p.macs, isFrozen: part.isFrozen)
            )
            shape = p.output
        }
        rows.append(
            SummaryRow(
                name: "total", output: shape, parameters: rows.reduce(0) { $0 + $1.parameters },
                macs: rows.reduce(0) { $0 + $1.macs }, isFrozen: frozen.allSatisfy { $0 }))
        return rows
    }

    /// Activation elements one forward pass produces for `inputShape` (the sum of every top-level unit's output size),
    /// computed from shapes alone; a lower bound of what training keeps for the backward pass (blocks keep several
    /// tensors per output), used to refuse an absurd batch before any memory is taken.
    /// - Throws: `TensorError` when `inputShape` does not fit the network.
    public func activationCount(inputShape: [Int]) throws -> Int {
        var shape = inputShape
        var total = 0
        for unit in units {
            shape = try profileChain([unit.layer], shape).output
            let (sum, overflow) = total.addingReportingOverflow(
                shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue })
            total = overflow ? Int.max : sum
        }
        return total
    }

    /// A plain-text table of `summaryRows(inputShape:)`, after a line saying what stage 1 runs (`stemNote`):
    /// ```
    /// resnet20, input [1, 3, 32, 32] (stage 1 runs the stem conv1 bn1 relu, then layer1)
    /// stage   output           params   MACs        frozen
    /// layer1  [1, 16, 32, 32]  14,448   14,745,600  no
    /// ```
    /// - Throws: `TensorError` when `inputShape` does not fit the network.
    public func summary(inputShape: [Int]) throws -> String {
        let rows = try summaryRows(inputShape: inputShape)
        let table =
            [["stage", "output", "params", "MACs", "frozen"]]
            + rows.map {
                [
                    $0.name, formatShape($0.output), grouped($0.parameters), grouped($0.macs),
                    $0.name == "total" ? "" : ($0.isFrozen ? "yes" : "no"),
                ]
            }
        let widths = (0..<5).map { c in table.map { $0[c].count }.max() ?? 0 }
        let lines = table.map { row in
            row.enumerated().map { c, cell in
                c == 2 || c == 3
                    ? String(repeating: " ", count: widths[c] - cell.count) + cell
                    : cell + String(repeating: " ", count: widths[c] - cell.count)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }
        let note = stemNote.map { " (\($0))" } ?? ""
        return "\(architecture), input \(formatShape(inputShape))\(note)\n" + lines.joined(separator: "\n")
    }

    /// What stage 1 runs when the model has a stem: `stage 1 runs the stem conv1 bn1 relu, then layer1` (after
    /// `split m layer2`: `then layer1 layer2`; `stage 1 is the stem: ...` when it holds nothing else); nil without a
    /// stem. The stem belongs to stage 1 only, whatever the split.
    public var stemNote: String? {
        let stem = self.stem
        guard !stem.modules.isEmpty, let first = stages.first else { return nil }
        let stemText = stem.modules.joined(separator: " ")
        let rest = moduleNames(first.range.clamped(to: stem.range.upperBound..<first.range.upperBound))
        return rest.isEmpty ? "stage 1 is the stem: \(stemText)" : "stage 1 runs the stem \(stemText), then " + rest
    }

    /// The units `range` covers as a reader names them: a top-level module whose units all lie in `range` by its
    /// name (`layer1`), the others by their paths (`layer2.0`), space-separated.
    func moduleNames(_ range: Range<Int>) -> String {
        func top(_ path: String) -> Substring { path.prefix { $0 != "." } }
        var names: [String] = []
        for i in range {
            let group = top(units[i].path)
            let whole = units.indices.allSatisfy { range.contains($0) || top(units[$0].path) != group }
            let name = whole ? String(group) : units[i].path
            if names.last != name { names.append(name) }
        }
        return names.joined(separator: " ")
    }
}

/// `1234567` → `1,234,567`.
func grouped(_ n: Int) -> String {
    let digits = String(n.magnitude)
    let parts = stride(from: digits.count, to: 0, by: -3).map { end -> Substring in
        let s = digits.index(digits.startIndex, offsetBy: max(0, end - 3))
        let e = digits.index(digits.startIndex, offsetBy: end)
        return digits[s..<e]
    }
    return (n < 0 ? "-" : "") + parts.reversed().joined(separator: ",")
}
