import Foundation

@testable import Plotting

/// Shared fixtures: synthetic training records shaped like a real SSKD session.
enum Sample {
    /// Three stages of 100 steps each, loss decaying with a deterministic wiggle.
    static let lossStages: [LossCurve] = (0..<3).map { stage in
        let steps = (0..<100).map { i -> (Double, Double) in
            let step = Double(stage * 100 + i)
            return (step, 2.0 / Double(stage + 1) * exp(-Double(i) / 40) + 0.1 + 0.05 * sin(step))
        }
        let epochs = [49, 99].map { i in (steps[i].0, steps[i - 49...i].map(\.1).reduce(0, +) / 50) }
        return LossCurve(name: "stage \(stage + 1)", steps: steps, epochs: epochs)
    }

    static let accuracyRuns: [AccuracyCurve] = ["scratch", "KD", "SSKD"].enumerated().map { index, name in
        AccuracyCurve(
            name: name,
            points: (1...10).map { epoch in
                (Double(epoch), 80 + Double(index) + 8 * (1 - exp(-Double(epoch) / 3)))
            })
    }

    static let gaps = [
        StageGap(stage: "stage 1", before: 0.92, after: 0.31, top1Gap: 6.5),
        StageGap(stage: "stage 2", before: 0.85, after: 0.27, top1Gap: 3.1),
        StageGap(stage: "stage 3", before: 0.77, after: 0.22, top1Gap: 1.4),
    ]
}
