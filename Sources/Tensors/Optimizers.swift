import Foundation

// Optimizers with PyTorch's exact update rules (torch.optim docs, "Algorithm" sections).
// Parameters with `requiresGrad == false` (frozen) or no gradient are skipped: never updated.

/// A first-order optimizer over a fixed list of parameters.
public protocol Optimizer: AnyObject {
    /// The parameters updated by `step()`.
    var parameters: [Tensor] { get }
    /// Learning rate used by the next `step()` (a schedule sets it each step or epoch).
    var learningRate: Float { get set }
    /// Applies one update from the parameters' accumulated `grad`.
    func step()
}

extension Optimizer {
    /// Clears every parameter's gradient (`optimizer.zero_grad()`).
    public func zeroGrad() { for p in parameters { p.zeroGrad() } }
}

/// Stochastic gradient descent (`torch.optim.SGD`): with weight decay wd, momentum μ, dampening 0:
/// g ← g + wd·p; b ← μ·b + g (b = g on the first step); g ← g + μ·b if Nesterov else b; p ← p − lr·g.
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let momentum: Float, weightDecay: Float, nesterov: Bool
    private var buffers: [ObjectIdentifier: [Float]] = [:]

    /// - Throws: `TensorError.invalidArgument` for a negative lr, momentum or weight decay, or Nesterov without
    /// momentum.
    public init(_ parameters: [Tensor], lr: Float, momentum: Float = 0, weightDecay: Float = 0, nesterov: Bool = false)
        throws
    {
        guard lr >= 0, momentum >= 0, weightDecay >= 0 else {
            throw TensorError.invalidArgument(
                op: "sgd", reason: "lr \(lr), momentum \(momentum), weight_decay \(weightDecay) must be non-negative")
        }
        guard !nesterov || momentum > 0 else {
            throw TensorError.invalidArgument(op: "sgd", reason: "nesterov needs momentum > 0")
        }
        self.parameters = parameters
        self.learningRate = lr
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
    }

    public func step() {
        for p in parameters where p.requiresGrad {
            guard let grad = p.grad else { continue }
            var g = grad.data
            if weightDecay != 0 { for i in 0..<g.count { g[i] += weightDecay * p.data[i] } }
            if momentum != 0 {
                let key = ObjectIdentifier(p)
                var b = buffers[key] ?? g
                if buffers[key] != nil { for i in 0..<g.count { b[i] = momentum * b[i] + g[i] } }
                buffers[key] = b
                if nesterov { for i in 0..<g.count { g[i] += momentum * b[i] } } else { g = b }
            }
            let lr = learningRate
            p.data.withUnsafeMutableBufferPointer { pp in for i in 0..<g.count { pp[i] -= lr * g[i] } }
        }
    }
}

/// Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019) as `torch.optim.Adam`/`AdamW`:
/// Adam adds wd·p to the gradient (L2); AdamW decays p ← p·(1 − lr·wd) before the update.
/// m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr·(m/(1−β1ᵗ)) / (sqrt(v/(1−β2ᵗ)) + ε).
public final class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool
    private var m: [ObjectIdentifier: [Float]] = [:], v: [ObjectIdentifier: [Float]] = [:]
    private var t = 0

    /// `decoupled: true` gives AdamW (PyTorch's AdamW default weight decay is 0.01).
    /// - Throws: `TensorError.invalidArgument` for lr < 0, betas outside [0, 1), eps ≤ 0 or wd < 0.
    public init(
        _ parameters: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
        weightDecay: Float = 0, decoupled: Bool = false
    ) throws {
        guard lr >= 0, (0..<1).contains(betas.0), (0..<1).contains(betas.1), eps > 0, weightDecay >= 0 else {
            throw TensorError.invalidArgument(
                op: decoupled ? "adamw" : "adam",
                reason: "lr \(lr), betas \(betas), eps \(eps), weight_decay \(weightDecay) out of range")
        }
        self.parameters = parameters
        self.learningRate = lr
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
    }

    public func step() {
        t += 1
        let c1 = 1 - Foundation.pow(beta1, Float(t))
        let c2 = 1 - Foundation.pow(beta2, Float(t))
        for p in parameters where p.requiresGrad {
            guard let grad = p.grad else { continue }
            let key = ObjectIdentifier(p)
            var g = grad.data
            if decoupled {
                for i in 0..<g.count { p.data[i] *= 1 - learningRate * weightDecay }
            } else if weightDecay != 0 {
                for i in 0..<g.count { g[i] += weightDecay * p.data[i] }
            }
            var mk = m[key] ?? [Float](repeating: 0, count: g.count)
            var vk = v[key] ?? [Float](repeating: 0, count: g.count)
            for i in 0..<g.count {
                mk[i] = beta1 * mk[i] + (1 - beta1) * g[i]
                vk[i] = beta2 * vk[i] + (1 - beta2) * g[i] * g[i]
                p.data[i] -= learningRate * (mk[i] / c1) / ((vk[i] / c2).squareRoot() + eps)
            }
            m[key] = mk
            v[key] = vk
        }
    }
}

/// A learning-rate schedule: the factor or rate at a step (step = epoch or iteration, as the caller counts).
/// Matches `torch.optim.lr_scheduler` closed forms.
public enum LearningRateSchedule: Equatable {
    /// The base rate throughout.
    case constant
    /// × gamma every `every` steps (`StepLR`).
    case step(every: Int, gamma: Float)
    /// × gamma at each milestone passed (`MultiStepLR`).
    case multiStep(milestones: [Int], gamma: Float)
    /// Cosine from the base rate to `minimum` over `total` steps (`CosineAnnealingLR`, closed form); after
    /// `total` steps it stays at `minimum` (PyTorch's closed form would rise again).
    case cosine(total: Int, minimum: Float)
    /// Linear warm-up from `startFactor`·base to base over `steps`, then `then` counted from the warm-up's end
    /// (`LinearLR` chained with `SequentialLR`).
    indirect case warmup(steps: Int, startFactor: Float, then: LearningRateSchedule)

    /// The learning rate at `step` (0-based) for base rate `base`.
    public func rate(at step: Int, base: Float) -> Float {
        switch self {
        case .constant:
            return base
        case .step(let every, let gamma):
            return base * Foundation.pow(gamma, Float(step / Swift.max(every, 1)))
        case .multiStep(let milestones, let gamma):
            return base * Foundation.pow(gamma, Float(milestones.filter { step >= $0 }.count))
        case .cosine(let total, let minimum):
            let t = Float(Swift.min(step, total)) / Float(Swift.max(total, 1))
            return minimum + (base - minimum) * (1 + cosf(Float.pi * t)) / 2
        case .warmup(let steps, let startFactor, let then):
            if step < steps {
                return base * (startFactor + (1 - startFactor) * Float(step) / Float(Swift.max(steps, 1)))
            }
            return then.rate(at: step - steps, base: base)
        }
    }
}
