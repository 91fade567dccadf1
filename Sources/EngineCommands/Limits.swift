import Datasets
import Distillation
import Foundation
import Language
import Networks
import Storage
import Tensors

// Bounds on user-given sizes.

/// Bounds on user-given sizes, checked before anything is allocated (see docs/language.md, "Bounds on sizes").
enum Limits {
    /// Input channels of `model`/`load` (`channels=`).
    static let channels = 1...4096
    /// Output classes of `model`/`load` (`classes=`); ImageNet-21k has 21,841.
    static let classes = 1...100_000
    /// One hidden width of `model mlp`/`cnn` (`widths=`).
    static let width = 1...65_536
    /// Parameters of a model built by `model` (800 MB of Float32 weights, about 2.4 GB with gradients and momentum).
    static let parameters = 200_000_000

    /// Throws an error at option `name` when `value` is outside `range`.
    static func check(_ inv: Invocation, _ name: String, _ value: Int, _ range: ClosedRange<Int>, what: String? = nil)
        throws
    {
        guard range.contains(value) else {
            let bound =
                range.upperBound == Int(Int32.max)
                ? "be at least \(range.lowerBound)" : "be in \(range.lowerBound)...\(range.upperBound)"
            throw inv.error(
                "option '\(name)': \(what.map { $0 + " " } ?? "")must \(bound), got \(value)",
                at: inv.has(name) ? name : nil)
        }
    }
}
