// A residual block as one op: relu(main(x) + shortcut(x)), where main is a chain of convolution → batch norm (→ ReLU)
// units and the shortcut is one such unit or the identity (He et al. 2016, the ResNet basic and bottleneck blocks).
// Run as one op, the block keeps what passes between its units to itself, so the couplings of ConvBatchNorm.swift
// apply inside it: each convolution's plane moments give its batch norm's statistics, each unit's normalised output
// is computed by the next flat convolution while packing (`ConvolutionInput.affine`), each training batch norm's dX by
// the flat or phase convolution before it (`ConvolutionOutputGradient.deferred`), and the first convolution adds its
// dX to the identity shortcut's gradient as it writes it. Values and gradients are bit for bit those of the same ops
// run apart (`conv2d`, `batchNorm(..., relu:, residual:)`; FusedBlockTests).

/// A convolution without bias followed by a batch norm and, when `relu`, a ReLU: one unit of a
/// `convBatchNormBlock`. In the block's last main unit `relu` applies after the residual add.
public struct ConvBatchNormUnit {
    /// The convolution's weight `[Cout, Cin/groups, kH, kW]` and geometry.
    public var weight: Tensor, geometry: Conv2dGeometry
    /// The batch norm over the convolution's `Cout` channels.
    public var norm: BatchNormParameters
    /// Whether a ReLU follows the batch norm (after the residual add in the last main unit).
    public var relu: Bool

    /// A unit from its parts, as `conv2d(weight:geometry:)` then `batchNorm(...)` (then `relu()`) take them.
    public init(weight: Tensor, geometry: Conv2dGeometry, norm: BatchNormParameters, relu: Bool) {
        (self.weight, self.geometry, self.norm, self.relu) = (weight, geometry, norm, relu)
    }
}

/// A residual block `[N, Cin, H, W]` → `[N, Cout, Hout, Wout]` in one op: the `main` units in order from x, the last
/// one's batch norm output plus the shortcut (`shortcut` applied to x, or x itself when nil), then a ReLU when the last
/// unit's `relu` is set. Batch statistics in `training` (running statistics updated), running ones otherwise, as
/// `batchNorm`. The same values and gradients as the ops run apart.
/// - Throws: `TensorError` as `conv2d` and `batchNorm` for shapes that disagree, or when `main` is empty.
public func convBatchNormBlock(
    _ x: Tensor, main: [ConvBatchNormUnit], shortcut: ConvBatchNormUnit?, training: Bool
) throws -> Tensor {
    guard !main.isEmpty else { throw TensorError.invalidArgument(op: "conv_bn_block", reason: "has no units") }
    let inputs = ConvBatchNormBlock.inputs(x, main + [shortcut].compactMap { $0 })
    let recorded = GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    var units: [ConvBatchNormBlock.Unit] = []  // kept for the backward pass only when the graph is recorded
    var last: ConvBatchNormBlock.Unit? = nil
    var input = ConvolutionInput.dense(x.data)
    var (shape, requiresGrad) = (x.shape, x.requiresGrad)
    for unit in main {
        let u = try ConvBatchNormBlock.Unit(
            unit, input: input, shape: shape, requiresGrad: requiresGrad, training: training, recorded: recorded)
        if recorded { units.append(u) }
        (input, shape, requiresGrad, last) = (.affine(u.affine), u.shape, u.outputRequiresGrad, u)
    }
    input = .dense([])
    if !recorded { last!.input = .dense([]) }  // the previous unit's output is not needed any more
    var short = try shortcut.map {
        try ConvBatchNormBlock.Unit(
            $0, input: .dense(x.data), shape: x.shape, requiresGrad: x.requiresGrad, training: training,
            recorded: recorded)
    }
    let residualShape = short?.shape ?? x.shape
    guard residualShape == shape else {
        throw TensorError.shapeMismatch(op: "batch_norm + residual", lhs: shape, rhs: residualShape)
    }
    let residual = short?.affine.materialized() ?? x.data
    if !recorded { short = nil }
    let out = last!.saved.output(last!.conv, shape: shape, residual: residual)
    return .result(
        shape: shape, data: out, op: .convBatchNormBlock(ConvBatchNormBlock(x: x, main: units, shortcut: short)),
        inputs: inputs)
}

/// What a `convBatchNormBlock` keeps for its backward pass: its input, and per unit what its convolution read, the
/// convolution's output and the batch norm's statistics.
public final class ConvBatchNormBlock {
    let x: Tensor
    let main: [Unit], shortcut: Unit?

    init(x: Tensor, main: [Unit], shortcut: Unit?) { (self.x, self.main, self.shortcut) = (x, main, shortcut) }

    /// One unit run forward.
    struct Unit {
        let unit: ConvBatchNormUnit
        let g: Conv2dGeometry
        /// What the convolution read (a previous unit's output stays unwritten on the flat path) and its output.
        var input: ConvolutionInput
        let conv: [Float]
        let saved: BatchNormSaved
        /// Whether the unit's input, its convolution's output and its batch norm's output take part in the graph.
        let inputRequiresGrad: Bool, convRequiresGrad: Bool, outputRequiresGrad: Bool

        /// Runs `unit` on `input` (of `shape`): the convolution (recording its plane moments when the graph is
        /// `recorded`), then the batch norm's statistics (from those moments in training).
        init(
            _ unit: ConvBatchNormUnit, input: ConvolutionInput, shape: [Int], requiresGrad: Bool, training: Bool,
            recorded: Bool
        ) throws {
            g = try unit.geometry.validated(input: shape, weight: unit.weight.shape, bias: nil)
            self.unit = unit
            self.input = g.path == .flat ? input : .dense(input.values)
            inputRequiresGrad = requiresGrad
            convRequiresGrad = requiresGrad || unit.weight.requiresGrad
            outputRequiresGrad = convRequiresGrad || unit.norm.graphInputs.contains { $0.requiresGrad }
            let y = convolutionForward(
                self.input, weight: unit.weight.data, bias: nil, g,
                recordsMoments: recorded && (requiresGrad || unit.weight.requiresGrad))
            conv = y.values
            var saved = try unit.norm.statistics(
                conv, shape: g.outputShape, training: training, moments: training ? y.moments : nil)
            saved.relu = unit.relu
            self.saved = saved
        }

        var shape: [Int] { g.outputShape }
        /// The batch norm's output, not yet written.
        var affine: ChannelAffine {
            ChannelAffine(
                source: conv, scale: saved.scale, shift: saved.shift, relu: saved.relu, channels: g.cOut,
                planeSize: g.hOut * g.wOut)
        }

        /// The unit's backward pass from the gradient of its output (`output` gives the output's values when a mask
        /// needs them): the gradient of its input (added to `earlier`, taken from it, when given) and those of its
        /// convolution weight, γ and β, in `ConvBatchNormUnit` order.
        func backward(
            grad: [Float], hasResidual: Bool, output: () -> [Float], adding earlier: inout [Float]?
        ) -> (dInput: [Float]?, dResidual: [Float], parameters: [[Float]?]) {
            let bn = saved.backward(
                conv, shape: shape, weight: unit.norm.weight?.data, hasResidual: hasResidual, output: output,
                grad: grad, needX: convRequiresGrad)
            var d = ConvolutionGradients()
            if let dy = bn.dX {
                d = convolutionBackward(
                    input, weight: unit.weight.data, g, dy: dy, needX: inputRequiresGrad,
                    needW: unit.weight.requiresGrad, hasBias: false, adding: &earlier)
            }
            let norms: [[Float]?] =
                (unit.norm.weight == nil ? [] : [bn.sumDyXHat]) + (unit.norm.bias == nil ? [] : [bn.sumDy])
            return (d.dX ?? earlier, hasResidual ? bn.dy : [], [d.dW] + norms)
        }
    }

    /// The tensors the block read, in `Op.inputs` order: x, then each main unit's convolution weight, γ and β, then
    /// the shortcut's.
    var inputs: [Tensor] { Self.inputs(x, (main + [shortcut].compactMap { $0 }).map(\.unit)) }

    static func inputs(_ x: Tensor, _ units: [ConvBatchNormUnit]) -> [Tensor] {
        [x] + units.flatMap { [$0.weight] + $0.norm.graphInputs }
    }

    /// Gradients of `inputs` from the gradient `g` of the block's output `out`: the main units from the last, then the
    /// shortcut, x's gradient summed as the ops run apart would (the shortcut's gradient plus the first convolution's).
    func backward(out: Tensor, grad g: [Float]) -> [[Float]?] {
        var parameters: [[[Float]?]] = []
        var carried: [Float]? = g
        var dResidual: [Float]? = nil
        var dX: [Float]? = nil
        for k in main.indices.reversed() {
            guard let grad = carried else {
                parameters.append([nil] + main[k].unit.norm.graphInputs.map { _ in nil })
                continue
            }
            var earlier: [Float]? = nil
            if k == 0 && shortcut == nil && x.requiresGrad { swap(&earlier, &dResidual) }
            let isLast = k == main.count - 1
            let next = isLast ? nil : main[k + 1]
            let r = main[k].backward(
                grad: grad, hasResidual: isLast, output: { isLast ? out.data : next!.input.values }, adding: &earlier)
            if isLast { dResidual = r.dResidual }
            parameters.append(r.parameters)
            if k == 0 { dX = r.dInput } else { carried = r.dInput }
        }
        var grads: [[Float]?] = [nil] + parameters.reversed().flatMap { $0 }
        if let shortcut, let dy = dResidual {
            let r = shortcut.backward(
                grad: dy, hasResidual: false, output: { shortcut.affine.materialized() }, adding: &dX)
            grads += r.parameters
            dX = r.dInput
        } else if let shortcut {
            grads += [nil] + shortcut.unit.norm.graphInputs.map { _ in nil }
        } else if x.requiresGrad, var sum = dResidual {  // a one-unit block: the residual's gradient + dX
            dResidual = nil
            if let d = dX { addInPlace(&sum, d) }
            dX = sum
        }
        grads[0] = dX
        return grads
    }
}
