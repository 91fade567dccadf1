import Foundation
import Tensors

extension Baselines {
    /// The KD loss of Hinton et al. (2015): α·T²·KL(softmax(t/T) ‖ softmax(s/T)) + (1 − α)·CE(s, y).
    /// The T² factor keeps the soft-target gradients on the scale of the hard-target ones.
    /// - Throws: `TensorError` when logits and labels disagree.
    public static func kdLoss(
        student s: Tensor, teacher t: Tensor, labels: [Int], temperature: Float, alpha: Float,
        labelSmoothing: Float = 0
    ) throws -> Tensor {
        let soft =
            try klDivergence(student: s, teacher: t, temperature: temperature) * (alpha * temperature * temperature)
        let hard = try crossEntropy(s, targets: labels, labelSmoothing: labelSmoothing) * (1 - alpha)
        return try soft + hard
    }

    /// The KD loss over a batch in which some images have no label (label −1, `TrainImages.all`): the mean over
    /// images of α_i·T²·KL_i + (1 − α_i)·CE_i, with α_i = `alpha` for a labelled image and 1 for an unlabelled
    /// one (its loss is the soft term alone). With every image labelled it is `kdLoss` (label smoothing is
    /// applied only then).
    /// - Throws: `TensorError` when logits and labels disagree.
    public static func kdLossWithUnlabelled(
        student s: Tensor, teacher t: Tensor, labels: [Int], temperature: Float, alpha: Float,
        labelSmoothing: Float = 0
    ) throws -> Tensor {
        guard labels.contains(where: { $0 < 0 }) else {
            return try kdLoss(
                student: s, teacher: t, labels: labels, temperature: temperature, alpha: alpha,
                labelSmoothing: labelSmoothing)
        }
        guard s.rank == 2, s.shape == t.shape, labels.count == s.shape[0] else {
            throw TensorError.shapeMismatch(op: "kd", lhs: s.shape, rhs: t.shape)
        }
        let n = s.shape[0]
        let c = s.shape[1]
        // Constants: the teacher's softened distribution p_t and log p_t, the per-image soft weight α_i, and the
        // one-hot labels (all zero for an unlabelled image, so its label never enters the loss).
        let logPt = (t * (1 / temperature)).logSoftmax().data
        let pt = Tensor(shape: [n, c], data: logPt.map { expf($0) })
        let weights = Tensor(shape: [n, 1], data: labels.map { $0 < 0 ? 1 : alpha })
        var onehot = [Float](repeating: 0, count: n * c)
        for (i, y) in labels.enumerated() where y >= 0 {
            guard y < c else {
                throw TensorError.invalidArgument(
                    op: "kd", reason: "label \(y) of image \(i) is not below \(c) classes")
            }
            onehot[i * c + y] = 1
        }
        let rowKL = try pt * (Tensor(shape: [n, c], data: logPt) - (s * (1 / temperature)).logSoftmax())
        let soft = try (rowKL * weights).sum() * (temperature * temperature / Float(n))
        let hard = try (Tensor(shape: [n, c], data: onehot) * s.logSoftmax()).sum() * (-(1 - alpha) / Float(n))
        return try soft + hard
    }

    /// Attention map of a feature `[N, C, H, W]`: mean over channels of squared activations, flattened to
    /// `[N, H·W]` and L2-normalised per image (Zagoruyko & Komodakis 2017, their code's `at(x)`).
    /// - Throws: `TensorError` for a map that is not `[N, C, H, W]`.
    public static func attentionMap(_ x: Tensor) throws -> Tensor {
        guard x.rank == 4 else {
            throw TensorError.invalidShape(op: "attention", shape: x.shape, reason: "is not [N, C, H, W]")
        }
        let a = try x.pow(2).mean(axes: [1]).reshaped([x.shape[0], -1])
        let norm = (try a.pow(2).sum(axes: [1], keepDims: true) + 1e-12).sqrt()
        return try a / norm
    }
}
