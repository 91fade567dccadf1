import Foundation

/// Reverse-mode automatic differentiation over a dynamic graph (as PyTorch's autograd).
///
/// Every differentiable op records an `Op` case holding its inputs and what its backward pass
/// needs. `Tensor.backward()` sorts the graph topologically and applies `Op.backward` in one
/// exhaustive `switch` (as candle's `backprop.rs`): an op without a gradient rule does not compile.
/// The kernels themselves (`conv2dBackward`, `batchNormBackward`, ...) sit beside their forward
/// in the op family's file.

/// Global switch for graph recording, like `torch.no_grad()`.
public enum GradMode {
    /// Whether ops on tensors with `requiresGrad` record a graph. Training loops run single-threaded
    /// at the top level, so a plain static is enough.
    nonisolated(unsafe) public static var isEnabled = true
}

/// Runs `body` with graph recording off (`torch.no_grad()`), restoring the previous mode after.
public func withNoGrad<T>(_ body: () throws -> T) rethrows -> T {
    let previous = GradMode.isEnabled
    GradMode.isEnabled = false
    defer { GradMode.isEnabled = previous }
    return try body()
}

/// The op that produced a tensor, with its inputs and the values its backward pass needs.
public enum Op {
    case add(Tensor, Tensor)
    case sub(Tensor, Tensor)
    case mul(Tensor, Tensor)
    case div(Tensor, Tensor)
    case addScalar(Tensor)
    case mulScalar(Tensor, Float)
    case powScalar(Tensor, Float)
    case exp(Tensor)
    case log(Tensor)
    case relu(Tensor)
    /// relu(a + b) in one op (the residual block's output), same shapes.
    case addRelu(Tensor, Tensor)
    case leakyRelu(Tensor, slope: Float)
    case sigmoid(Tensor)
    case tanh(Tensor)
    case dropout(Tensor, mask: [Float])
    case reshape(Tensor)
    case transpose2d(Tensor)
    case slice(Tensor, start: Int)
    case concat([Tensor], axis: Int)
    case sum(Tensor, axes: [Int])
    case mean(Tensor, axes: [Int])
    case max(Tensor, argmax: [Int32], axis: Int)
    case matmul(Tensor, Tensor)
    case linear(Tensor, weight: Tensor, bias: Tensor?)
    /// A convolution, with its output planes' statistics when it recorded them (`PlaneMoments`, for a batch norm
    /// that reads this output).
    case conv2d(Tensor, weight: Tensor, bias: Tensor?, Conv2dGeometry, moments: PlaneMoments?)
    case maxPool2d(Tensor, argmax: [Int32])
    case avgPool2d(Tensor, Pool2dGeometry)
    case adaptiveAvgPool2d(Tensor)
    /// A batch norm, with the residual it adds (before its ReLU, if fused) when given.
    case batchNorm(Tensor, weight: Tensor?, bias: Tensor?, residual: Tensor?, BatchNormSaved)
    /// A chain of convolution → batch norm (→ ReLU) units ending in a residual add and ReLU, as one op
    /// (Fused/ConvBatchNormBlock.swift).
    case convBatchNormBlock(ConvBatchNormBlock)
    case softmax(Tensor)
    case logSoftmax(Tensor)
    case crossEntropy(Tensor, targets: [Int], smoothing: Float)
    case mseLoss(Tensor, Tensor)
    case klDivergence(student: Tensor, teacher: Tensor, temperature: Float)

    /// The tensors this op read, in order.
    var inputs: [Tensor] {
        switch self {
        case .add(let a, let b), .addRelu(let a, let b), .sub(let a, let b), .mul(let a, let b), .div(let a, let b),
            .matmul(let a, let b), .mseLoss(let a, let b),
            .klDivergence(let a, let b, _):
            return [a, b]
        case .addScalar(let a), .mulScalar(let a, _), .powScalar(let a, _), .exp(let a), .log(let a), .relu(let a),
            .leakyRelu(let a, _), .sigmoid(let a), .tanh(let a), .dropout(let a, _), .reshape(let a),
            .transpose2d(let a),
            .slice(let a, _), .sum(let a, _), .mean(let a, _), .max(let a, _, _), .maxPool2d(let a, _),
            .avgPool2d(let a, _),
            .adaptiveAvgPool2d(let a), .softmax(let a), .logSoftmax(let a), .crossEntropy(let a, _, _):
            return [a]
        case .concat(let parts, _):
            return parts
        case .linear(let x, let w, let b), .conv2d(let x, let w, let b, _, _):
            return [x, w] + [b].compactMap { $0 }
        case .batchNorm(let x, let w, let b, let r, _):
            return [x] + [w, b, r].compactMap { $0 }
        case .convBatchNormBlock(let block):
            return block.inputs
        }
    }

    /// Gradients of the loss with respect to each of `inputs` (same order), given the gradient `g` of the loss
    /// with respect to `out`, the tensor this op produced. Inputs that do not require a gradient may get `nil`.
    func backward(out: Tensor, grad g: [Float]) -> [[Float]?] {
        switch self {
        case .add(let a, let b):
            return [reduceBroadcast(g, from: out.shape, to: a.shape), reduceBroadcast(g, from: out.shape, to: b.shape)]
        case .sub(let a, let b):
            return [
                reduceBroadcast(g, from: out.shape, to: a.shape),
                reduceBroadcast(g.map { -$0 }, from: out.shape, to: b.shape),
            ]
        case .mul(let a, let b):
            return mulBackward(a, b, out: out, grad: g)
        case .div(let a, let b):
            return divBackward(a, b, out: out, grad: g)
        case .addScalar:
            return [g]
        case .mulScalar(_, let s):
            return [g.map { $0 * s }]
        case .powScalar(let a, let p):
            return [zipMap(g, a.data) { g, x in g * p * powf(x, p - 1) }]
        case .exp:
            return [zipMap(g, out.data, *)]
        case .log(let a):
            return [zipMap(g, a.data, /)]
        case .relu(let a):
            return [reluBackward(g, mask: a.data)]
        case .addRelu:  // the ReLU's mask from the output, then the add passes it to both inputs
            let masked = reluBackward(g, mask: out.data)
            return [masked, masked]
        case .leakyRelu(let a, let slope):
            return [zipMap(g, a.data) { g, x in x > 0 ? g : g * slope }]
        case .sigmoid:
            return [zipMap(g, out.data) { g, y in g * y * (1 - y) }]
        case .tanh:
            return [zipMap(g, out.data) { g, y in g * (1 - y * y) }]
        case .dropout(_, let mask):
            return [zipMap(g, mask, *)]
        case .reshape:
            return [g]
        case .transpose2d(let a):
            return [transpose2dData(g, rows: a.shape[1], cols: a.shape[0])]
        case .slice(let a, let start):
            return [sliceBackward(g, input: a.shape, start: start, length: out.shape[0])]
        case .concat(let parts, let axis):
            return concatBackward(g, parts: parts.map(\.shape), axis: axis)
        case .sum(let a, let axes):
            return [expandReduced(g, to: a.shape, axes: axes, scale: 1)]
        case .mean(let a, let axes):
            return [
                expandReduced(
                    g, to: a.shape, axes: axes, scale: 1 / Float(Swift.max(axes.map { a.shape[$0] }.reduce(1, *), 1)))
            ]
        case .max(let a, let argmax, let axis):
            return [maxBackward(g, input: a.shape, argmax: argmax, axis: axis)]
        case .matmul(let a, let b):
            return matmulBackward(a, b, grad: g)
        case .linear(let x, let w, let b):
            return linearBackward(x, weight: w, hasBias: b != nil, grad: g)
        case .conv2d(let x, let w, let b, let geometry, _):
            return conv2dBackward(x, weight: w, hasBias: b != nil, geometry: geometry, grad: g)
        case .maxPool2d(let a, let argmax):
            return [maxPool2dBackward(g, input: a.shape, argmax: argmax)]
        case .avgPool2d(let a, let geometry):
            return [avgPool2dBackward(g, input: a.shape, geometry: geometry)]
        case .adaptiveAvgPool2d(let a):
            return [adaptiveAvgPool2dBackward(g, input: a.shape, output: out.shape)]
        case .batchNorm(let x, let w, let b, let r, let saved):
            return batchNormBackward(x, weight: w, hasBias: b != nil, residual: r, saved: saved, out: out, grad: g)
        case .convBatchNormBlock(let block):
            return block.backward(out: out, grad: g)
        case .softmax:
            return [softmaxBackward(g, out: out)]
        case .logSoftmax:
            return [logSoftmaxBackward(g, out: out)]
        case .crossEntropy(let logits, let targets, let smoothing):
            return [crossEntropyBackward(logits, targets: targets, smoothing: smoothing, grad: g[0])]
        case .mseLoss(let a, let b):
            return mseBackward(a, b, grad: g[0])
        case .klDivergence(let s, let t, let temperature):
            return klDivergenceBackward(student: s, teacher: t, temperature: temperature, grad: g[0])
        }
    }
}

extension Tensor {
    /// Wraps `data` as the result of `op`, recording the graph when grad mode is on and an input needs a gradient.
    static func result(shape: [Int], data: [Float], op: @autoclosure () -> Op, inputs: [Tensor]) -> Tensor {
        Tensor(shape: shape, data: data).recording(op(), inputs: inputs)
    }

    /// Records `op` as this new tensor's origin when grad mode is on and an input needs a gradient; returns self.
    private func recording(_ op: @autoclosure () -> Op, inputs: [Tensor]) -> Tensor {
        if GradMode.isEnabled && inputs.contains(where: { $0.requiresGrad }) {
            requiresGrad = true
            gradFn = op()
        }
        return self
    }

    /// Whether this tensor is a leaf (created by the user, not by an op).
    public var isLeaf: Bool { gradFn == nil }

    /// Backpropagates from this tensor, accumulating `grad` into every leaf that requires one.
    ///
    /// - Parameter gradient: d(loss)/d(self); defaults to 1 for a one-element tensor (a loss).
    /// - Throws: `TensorError.invalidArgument` when `self` does not require a gradient, or is not a
    ///   scalar and no `gradient` of its shape is given.
    /// The graph is freed afterwards (PyTorch's `retain_graph=False`).
    public func backward(gradient: Tensor? = nil) throws {
        guard requiresGrad else {
            throw TensorError.invalidArgument(
                op: "backward", reason: "tensor \(formatShape(shape)) does not require grad")
        }
        let seed: [Float]
        if let gradient {
            guard gradient.shape == shape else {
                throw TensorError.shapeMismatch(op: "backward", lhs: shape, rhs: gradient.shape)
            }
            seed = gradient.data
        } else {
            guard count == 1 else {
                throw TensorError.invalidArgument(
                    op: "backward",
                    reason: "grad can be implicitly created only for scalar outputs, got \(formatShape(shape))")
            }
            seed = [1]
        }
        // Iterative depth-first topological order (no recursion: deep graphs must not blow the stack).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(self, false)]
        while let (node, expanded) = stack.popLast() {
            if expanded {
                order.append(node)
                continue
            }
            guard visited.insert(ObjectIdentifier(node)).inserted else { continue }
            stack.append((node, true))
            for input in node.gradFn?.inputs ?? []
            where input.requiresGrad && !visited.contains(ObjectIdentifier(input)) {
                stack.append((input, false))
            }
        }
        var grads: [ObjectIdentifier: [Float]] = [ObjectIdentifier(self): seed]
        for node in order.reversed() {
            guard let g = grads.removeValue(forKey: ObjectIdentifier(node)) else { continue }
            guard let op = node.gradFn else {
                node.accumulateGrad(g)
                continue
            }
            let inputs = op.inputs
            for (input, ig) in zip(inputs, op.backward(out: node, grad: g)) where input.requiresGrad {
                guard let ig else { continue }
                let key = ObjectIdentifier(input)
                if grads[key] != nil {
                    addInPlace(&grads[key]!, ig)  // in place: no copy of the accumulated gradient
                } else {
                    grads[key] = ig
                }
            }
            node.gradFn = nil
        }
    }

    /// Adds `g` to `grad` (PyTorch accumulates gradients until `zeroGrad`).
    func accumulateGrad(_ g: [Float]) {
        if let grad {
            addInPlace(&grad.data, g)
        } else {
            grad = Tensor(shape: shape, data: g)
        }
    }

    /// Clears the accumulated gradient (`optimizer.zero_grad(set_to_none=True)`).
    public func zeroGrad() { grad = nil }

    /// A tensor sharing the values but cut from the graph (`tensor.detach()`).
    public func detached() -> Tensor { Tensor(shape: shape, data: data) }
}

/// `a += b` elementwise. - Precondition: equal counts.
@inline(__always) func addInPlace(_ a: inout [Float], _ b: [Float]) {
    precondition(a.count == b.count)
    a.withUnsafeMutableBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            let pa = pa.baseAddress
            let pb = pb.baseAddress
            if let pa, let pb {
                Parallel.forEach(b.count) { r in
                    vectorAdd(pa + r.lowerBound, pb + r.lowerBound, pa + r.lowerBound, r.count)
                }
            }
        }
    }
}

/// Elementwise `f(a[i], b[i])`. - Precondition: equal counts.
@inline(__always) func zipMap(_ a: [Float], _ b: [Float], _ f: (Float, Float) -> Float) -> [Float] {
    precondition(a.count == b.count)
    return [Float](unsafeUninitializedCapacity: a.count) { out, n in
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                for i in 0..<pa.count { out[i] = f(pa[i], pb[i]) }
            }
        }
        n = a.count
    }
}

/// g where mask > 0, else 0 (the ReLU backward; `mask` is the ReLU's input, or its output, which is positive
/// exactly where the input is), over chunks split across the workers.
func reluBackward(_ g: [Float], mask: [Float]) -> [Float] {
    g.withUnsafeBufferPointer { pg in
        mask.withUnsafeBufferPointer { pm in
            parallelFill(g.count) { po, r in
                vectorReluBackward(
                    pg.baseAddress! + r.lowerBound, pm.baseAddress! + r.lowerBound, po + r.lowerBound, r.count)
            }
        }
    }
}
