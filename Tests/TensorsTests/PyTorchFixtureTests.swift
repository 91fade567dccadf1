// PyTorch reference tests: the tensor engine's forward values AND gradients against PyTorch 2.13 (CPU).
//
// Fixtures: Tests/TensorsTests/Fixtures/<case>.json, one JSON per case (format in FixtureSupport.swift and
// in the docstring of scripts/make-fixtures.py), written by
//
//     .venv/bin/python scripts/make-fixtures.py      # any Python with torch; seeded, reproducible
//
// and committed (CI has no torch). To add a case, add it to the script, rerun it (the other groups' files stay
// byte-identical: each group is seeded from its name), and add the Swift side here.
// Non-scalar outputs are reduced with a fixed random weighting, loss = (out * out_weight).sum(), so every
// element's gradient is checked; `checkForwardBackward` also fails if a PyTorch gradient in the file goes unchecked.
// The `*_large` cases generate their inputs from a formula and store every 7th output element, to reach the
// multi-threaded paths within a small file. Dropout is checked by its rule only (PyTorch's RNG differs).
// Tolerance everywhere: |a − b| ≤ 1e-4 · max(1, |b|); observed differences are ≤ ~6e-6 (float summation order).
import XCTest

@testable import Tensors

final class PyTorchFixtureTests: XCTestCase {

    // MARK: - Convolution

    func testConv2d() throws {
        for name in [
            "conv2d_plain", "conv2d_plain_nobias", "conv2d_stride2", "conv2d_pad2_dilation2", "conv2d_groups2",
            "conv2d_depthwise", "conv2d_1x1_stride2", "conv2d_nonsquare",
        ] {
            try checkConv2d(name)
        }
    }

    /// Checks `conv2d` on fixture `name` (geometry from its stride, padding, dilation and groups; bias when it has
    /// one): forward and the gradients of x, w and b.
    private func checkConv2d(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let hasBias = try Fixture.load(name).tensors["b"] != nil
        try checkForwardBackward(name, inputs: hasBias ? ["x", "w", "b"] : ["x", "w"], file: file, line: line) { f, t in
            let geometry = Conv2dGeometry(
                stride: try f.pair("stride"), padding: try f.pair("padding"),
                dilation: try f.pair("dilation"), groups: try f.int("groups"))
            return try conv2d(t["x"]!, weight: t["w"]!, bias: t["b"], geometry: geometry)
        }
    }

    // MARK: - Batch normalisation

    func testBatchNormTrainUpdatesRunningStats() throws {
        for name in ["batchnorm2d_train", "batchnorm1d_train"] { try checkBatchNorm(name, training: true) }
    }

    func testBatchNorm1dOverLengthAndWithoutAffine() throws {
        for (name, affine) in [("batchnorm1d_3d_train", true), ("batchnorm2d_train_noaffine", false)] {
            try checkBatchNorm(name, inputs: affine ? ["x", "w", "b"] : ["x"], training: true)
        }
    }

    func testBatchNormEval() throws {
        for name in ["batchnorm2d_eval", "batchnorm1d_eval"] { try checkBatchNorm(name, training: false) }
    }

    /// Checks `batchNorm` (momentum 0.1) on fixture `name`: forward and the gradients of `inputs`, then the running
    /// statistics. Training starts from PyTorch's initial ones (mean 0, variance 1) and must leave the fixture's
    /// `running_mean_after` and `running_var_after` (unbiased variance); eval uses the fixture's `running_mean` and
    /// `running_var` and must not change them.
    private func checkBatchNorm(
        _ name: String, inputs: [String] = ["x", "w", "b"], training: Bool, file: StaticString = #filePath,
        line: UInt = #line
    ) throws {
        let f = try Fixture.load(name)
        let c = try f.values("x").shape[1]
        let runningMean = training ? Tensor.zeros([c]) : try f.tensor("running_mean")
        let runningVar = training ? Tensor.ones([c]) : try f.tensor("running_var")
        try checkForwardBackward(name, inputs: inputs, file: file, line: line) { _, t in
            try batchNorm(
                t["x"]!, weight: t["w"], bias: t["b"], runningMean: runningMean, runningVar: runningVar,
                training: training, momentum: 0.1)
        }
        let (after, meanLabel, varLabel) =
            training
            ? ("_after", "running_mean", "running_var (unbiased)")
            : ("", "running_mean must not change in eval", "running_var must not change in eval")
        assertClose(runningMean, try f.values("running_mean" + after), "\(name) \(meanLabel)", file: file, line: line)
        assertClose(runningVar, try f.values("running_var" + after), "\(name) \(varLabel)", file: file, line: line)
    }

    // MARK: - Pooling

    func testMaxAndAvgPool2d() throws {
        func geometry(_ f: Fixture) throws -> Pool2dGeometry {
            Pool2dGeometry(kernel: try f.pair("kernel"), stride: try f.pair("stride"), padding: try f.pair("padding"))
        }
        // maxpool_ties_k3s2p1: integer inputs with ties; the gradient goes to the first maximum, as PyTorch's CPU
        // kernel.
        for name in ["maxpool_k3s2p1", "maxpool_k2", "maxpool_k2_odd", "maxpool_ties_k3s2p1"] {
            try checkForwardBackward(name, inputs: ["x"]) { f, t in try t["x"]!.maxPool2d(geometry(f)) }
        }
        for name in ["avgpool_k3s2p1", "avgpool_k2"] {
            try checkForwardBackward(name, inputs: ["x"]) { f, t in try t["x"]!.avgPool2d(geometry(f)) }
        }
    }

    func testAdaptiveAndGlobalAvgPool() throws {
        for name in ["adaptive_avgpool_1x1", "adaptive_avgpool_5x7_to_3x2", "adaptive_avgpool_7x5_to_4x3"] {
            try checkForwardBackward(name, inputs: ["x"]) { f, t in
                let (h, w) = try f.pair("size")
                return try t["x"]!.adaptiveAvgPool2d(h, w)
            }
        }
        try checkForwardBackward("global_avgpool", inputs: ["x"]) { _, t in try t["x"]!.globalAvgPool() }
    }

    // MARK: - Pointwise, softmax, shape

    func testActivations() throws {
        try checkForwardBackward("relu", inputs: ["x"]) { _, t in t["x"]!.relu() }
        try checkForwardBackward("leaky_relu_default", inputs: ["x"]) { _, t in t["x"]!.leakyRelu() }
        try checkForwardBackward("leaky_relu_0.2", inputs: ["x"]) { f, t in
            t["x"]!.leakyRelu(slope: try f.float("slope"))
        }
        try checkForwardBackward("relu_at_zero", inputs: ["x"]) { _, t in t["x"]!.relu() }
        try checkForwardBackward("leaky_relu_at_zero", inputs: ["x"]) { f, t in
            t["x"]!.leakyRelu(slope: try f.float("slope"))
        }
        try checkForwardBackward("sigmoid", inputs: ["x"]) { _, t in t["x"]!.sigmoid() }
        try checkForwardBackward("tanh", inputs: ["x"]) { _, t in t["x"]!.tanh() }
        try checkForwardBackward("softmax", inputs: ["x"]) { _, t in t["x"]!.softmax() }
        try checkForwardBackward("log_softmax", inputs: ["x"]) { _, t in t["x"]!.logSoftmax() }
        try checkForwardBackward("softmax_large", inputs: ["x"]) { _, t in t["x"]!.softmax() }
        try checkForwardBackward("log_softmax_large", inputs: ["x"]) { _, t in t["x"]!.logSoftmax() }
        try checkForwardBackward("softmax_3d", inputs: ["x"]) { _, t in t["x"]!.softmax() }
    }

    func testScalarOps() throws {
        try checkForwardBackward("scalar_ops", inputs: ["x"]) { _, t in
            let x = t["x"]!
            return try concat(
                [x + 2.5, x - 1.25, x * -1.5, x / 4, x.pow(2), x.exp(), x.log(), x.sqrt(), x.pow(-0.5)], axis: 1)
        }
        try checkForwardBackward("pow_signed", inputs: ["x"]) { _, t in
            try concat([t["x"]!.pow(2), t["x"]!.pow(3)], axis: 1)
        }
        // The same tensor twice in one op, and on both sides of a division: gradients accumulate.
        try checkForwardBackward("mul_self", inputs: ["x"]) { _, t in try t["x"]! * t["x"]! }
        try checkForwardBackward("div_shared", inputs: ["x"]) { _, t in try t["x"]! / (t["x"]! * t["x"]! + 1) }
    }

    func testBroadcastingArithmetic() throws {
        for kind in ["channel", "sample"] {
            try checkForwardBackward("broadcast_add_" + kind, inputs: ["x", "y"]) { _, t in try t["x"]! + t["y"]! }
            try checkForwardBackward("broadcast_sub_" + kind, inputs: ["x", "y"]) { _, t in try t["x"]! - t["y"]! }
            try checkForwardBackward("broadcast_mul_" + kind, inputs: ["x", "y"]) { _, t in try t["x"]! * t["y"]! }
            try checkForwardBackward("broadcast_div_" + kind, inputs: ["x", "y"]) { _, t in try t["x"]! / t["y"]! }
        }
        // Both operands stretched ([2, 1, 4, 1] + [1, 3, 1, 5]) and operands of different rank ([3, 4] * [4], [2, 1, 4]
        // / [3, 1]).
        try checkForwardBackward("broadcast_add_both", inputs: ["x", "y"]) { _, t in try t["x"]! + t["y"]! }
        try checkForwardBackward("broadcast_mul_rank", inputs: ["x", "y"]) { _, t in try t["x"]! * t["y"]! }
        try checkForwardBackward("broadcast_div_both", inputs: ["x", "y"]) { _, t in try t["x"]! / t["y"]! }
        // The broadcast operand on the left of a division: [1, C, 1, 1] / [N, C, H, W].
        try checkForwardBackward("broadcast_div_lhs", inputs: ["x", "y"]) { _, t in try t["x"]! / t["y"]! }
    }

    func testShapeOps() throws {
        try checkForwardBackward("flatten", inputs: ["x"]) { _, t in t["x"]!.flattened() }
        try checkForwardBackward("reshape", inputs: ["x"]) { f, t in try t["x"]!.reshaped(try f.ints("shape")) }
        try checkForwardBackward("transpose", inputs: ["x"]) { _, t in try t["x"]!.transposed() }
        try checkForwardBackward("concat_axis0", inputs: ["x", "y"]) { _, t in try concat([t["x"]!, t["y"]!], axis: 0) }
        try checkForwardBackward("concat_axis1", inputs: ["x", "y", "z"]) { _, t in
            try concat([t["x"]!, t["y"]!, t["z"]!], axis: 1)
        }
        try checkForwardBackward("concat_axis2", inputs: ["x", "y"]) { _, t in try concat([t["x"]!, t["y"]!], axis: 2) }
    }

    func testReductions() throws {
        try checkForwardBackward("sum_axis1", inputs: ["x"]) { f, t in try t["x"]!.sum(axes: try f.ints("axes")) }
        try checkForwardBackward("sum_axes23_keepdim", inputs: ["x"]) { f, t in
            try t["x"]!.sum(axes: try f.ints("axes"), keepDims: true)
        }
        try checkForwardBackward("sum_all", inputs: ["x"]) { _, t in try t["x"]!.sum() }
        try checkForwardBackward("mean_axes02", inputs: ["x"]) { f, t in try t["x"]!.mean(axes: try f.ints("axes")) }
        try checkForwardBackward("mean_all", inputs: ["x"]) { _, t in try t["x"]!.mean() }
        try checkForwardBackward("sum_negative_axis", inputs: ["x"]) { f, t in try t["x"]!.sum(axes: try f.ints("axes"))
        }
        try checkForwardBackward("mean_axes13_keepdim", inputs: ["x"]) { f, t in
            try t["x"]!.mean(axes: try f.ints("axes"), keepDims: true)
        }
        // Ties: value, gradient and argmax go to the first maximum, as PyTorch's CPU max(dim) / argmax.
        try checkForwardBackward("max_axis1_ties", inputs: ["x"]) { f, t in
            let x = t["x"]!
            let axis = try f.int("axis")
            XCTAssertEqual(try x.argmax(axis: axis), try f.indices("argmax"), "argmax on ties")
            return try x.max(axis: axis)
        }
        try checkForwardBackward("max_axis0", inputs: ["x"]) { f, t in try t["x"]!.max(axis: try f.int("axis")) }
        try checkForwardBackward("max_axis1", inputs: ["x"]) { f, t in try t["x"]!.max(axis: try f.int("axis")) }
        try checkForwardBackward("max_axis_last", inputs: ["x"]) { f, t in try t["x"]!.max(axis: try f.int("axis")) }
    }

    func testMatmulAndLinear() throws {
        try checkForwardBackward("matmul", inputs: ["x", "y"]) { _, t in try matmul(t["x"]!, t["y"]!) }
        try checkForwardBackward("linear", inputs: ["x", "w", "b"]) { _, t in
            try linear(t["x"]!, weight: t["w"]!, bias: t["b"])
        }
        try checkForwardBackward("linear_nobias", inputs: ["x", "w"]) { _, t in
            try linear(t["x"]!, weight: t["w"]!, bias: nil)
        }
    }

    // MARK: - Losses

    func testCrossEntropyWithAndWithoutLabelSmoothing() throws {
        for name in ["cross_entropy_smoothing0", "cross_entropy_smoothing0.1", "cross_entropy_large_logits"] {
            try checkForwardBackward(name, inputs: ["x"]) { f, t in
                try crossEntropy(
                    t["x"]!, targets: try f.indices("targets"), labelSmoothing: try f.float("label_smoothing"))
            }
        }
    }

    func testMSE() throws {
        try checkForwardBackward("mse", inputs: ["x", "y"]) { _, t in try mseLoss(t["x"]!, t["y"]!) }
    }

    /// `F.kl_div(F.log_softmax(s/T, 1), F.softmax(t/T, 1), reduction='batchmean')`, T = 4; gradients w.r.t.
    /// the student logits and (for completeness) the teacher logits.
    func testKLDivergenceWithTemperature() throws {
        try checkForwardBackward("kl_divergence_T4", inputs: ["x", "y"]) { f, t in
            try klDivergence(student: t["x"]!, teacher: t["y"]!, temperature: try f.float("temperature"))
        }
    }

    /// Hinton KD loss α·T²·KL + (1−α)·CE (α 0.9, T 4) composed from our ops, against PyTorch's value and student
    /// gradient.
    func testKnowledgeDistillationLoss() throws {
        let leaves = try checkForwardBackward("kd_loss", inputs: ["x"]) { f, t in
            let temperature = try f.float("temperature")
            let alpha = try f.float("alpha")
            let kl = try klDivergence(student: t["x"]!, teacher: try f.tensor("teacher"), temperature: temperature)
            let ce = try crossEntropy(t["x"]!, targets: try f.indices("targets"))
            return try kl * (alpha * temperature * temperature) + ce * (1 - alpha)
        }
        let grad = try XCTUnwrap(leaves["x"]?.grad)
        XCTAssertGreaterThan(grad.data.map(abs).max() ?? 0, 1e-3, "KD loss must send a gradient to the student logits")
    }

    // MARK: - A whole CNN

    /// The small CNN of `make-fixtures.py` (`small_cnn`): conv(no bias)-bn-relu-maxpool(3,2,1)-conv-bn-relu-
    /// global avg pool-linear, with its PyTorch state-dict keys. Parameters load with `requiresGrad`, running
    /// statistics without; `forward` updates the running statistics in training mode.
    private struct SmallCNN {
        static let parameterNames = [
            "0.weight", "1.weight", "1.bias", "4.weight", "4.bias", "5.weight", "5.bias",
            "9.weight", "9.bias",
        ]
        static let statNames = ["1.running_mean", "1.running_var", "5.running_mean", "5.running_var"]
        var parameters: [String: Tensor] = [:]
        var stats: [String: Tensor] = [:]

        init(_ f: Fixture) throws {
            for name in Self.parameterNames { parameters[name] = try f.tensor(name, requiresGrad: true) }
            for name in Self.statNames { stats[name] = try f.tensor(name) }
        }

        func forward(_ x: Tensor, training: Bool) throws -> Tensor {
            func p(_ name: String) throws -> Tensor { try XCTUnwrap(parameters[name], "no parameter \(name)") }
            func bn(_ h: Tensor, _ i: String) throws -> Tensor {
                try batchNorm(
                    h, weight: p(i + ".weight"), bias: p(i + ".bias"), runningMean: stats[i + ".running_mean"],
                    runningVar: stats[i + ".running_var"], training: training)
            }
            let same = Conv2dGeometry(padding: (1, 1))
            var h = try bn(conv2d(x, weight: p("0.weight"), bias: nil, geometry: same), "1").relu()
            h = try h.maxPool2d(Pool2dGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1)))
            h = try bn(conv2d(h, weight: p("4.weight"), bias: p("4.bias"), geometry: same), "5").relu()
            return try linear(h.globalAvgPool(), weight: p("9.weight"), bias: p("9.bias"))
        }
    }

    /// The small CNN, cross-entropy, batch-norm in train mode; weights are PyTorch's `state_dict` loaded by name.
    /// Checks logits, loss, the gradient of every parameter and of the input, the running statistics after the
    /// step, and eval-mode logits with those statistics.
    func testSmallCNNForwardBackward() throws {
        let f = try Fixture.load("cnn")
        let gradNames = Set(
            f.tensors.keys.filter { $0.hasPrefix("grad_") && $0 != "grad_x" }.map { String($0.dropFirst(5)) })
        XCTAssertEqual(gradNames, Set(SmallCNN.parameterNames), "every PyTorch parameter gradient is checked")
        let model = try SmallCNN(f)
        let x = try f.tensor("x", requiresGrad: true)
        let logits = try model.forward(x, training: true)
        let loss = try crossEntropy(logits, targets: f.indices("targets"))
        assertClose(logits, try f.values("logits"), "cnn logits")
        assertClose(loss, try f.values("loss"), "cnn loss")
        try loss.backward()
        assertClose(x.grad, try f.values("grad_x"), "cnn d/dx")
        for name in SmallCNN.parameterNames {
            assertClose(model.parameters[name]?.grad, try f.values("grad_" + name), "cnn d/d\(name)")
        }
        for (name, t) in model.stats { assertClose(t, try f.values(name + "_after"), "cnn \(name) after the step") }
        let evalLogits = try withNoGrad { try model.forward(f.tensor("x"), training: false) }
        assertClose(evalLogits, try f.values("logits_eval"), "cnn eval-mode logits with the updated running stats")
    }

    /// Three SGD steps (momentum, weight decay) of the small CNN on one batch: the loss at each step, then every
    /// parameter and running statistic after the last step, vs PyTorch.
    func testSmallCNNTrainingSteps() throws {
        let f = try Fixture.load("cnn_sgd_training")
        let model = try SmallCNN(f)
        let x = try f.tensor("x")
        let targets = try f.indices("targets")
        let optimizer = try SGD(
            SmallCNN.parameterNames.compactMap { model.parameters[$0] }, lr: f.float("lr"),
            momentum: f.float("momentum"), weightDecay: f.float("weight_decay"))
        var losses: [Float] = []
        for _ in 0..<3 {
            optimizer.zeroGrad()
            let loss = try crossEntropy(model.forward(x, training: true), targets: targets)
            try loss.backward()
            optimizer.step()
            losses.append(loss.item)
        }
        assertClose(losses, try f.values("losses").data, "cnn training losses")
        for (name, t) in model.parameters.merging(model.stats, uniquingKeysWith: { a, _ in a }) {
            assertClose(t, try f.values(name + "_final"), "cnn \(name) after 3 SGD steps")
        }
    }

    /// torchvision's ResNet BasicBlock with a 1x1 stride-2 conv-bn downsample on the shortcut (train mode),
    /// global average pooled: output and every parameter's gradient, through the residual addition.
    func testResidualBlockWithDownsample() throws {
        let f = try Fixture.load("residual_block")
        let parameterNames = f.tensors.keys.filter { $0.hasPrefix("grad_") }.map { String($0.dropFirst(5)) }
        XCTAssertEqual(parameterNames.count, 10, "x; conv1, bn1 (2), conv2, bn2 (2), downsample conv, bn (2)")
        try checkForwardBackward("residual_block", inputs: parameterNames) { f, t in
            func p(_ name: String) throws -> Tensor { try XCTUnwrap(t[name], "no parameter \(name)") }
            func bn(_ h: Tensor, _ prefix: String) throws -> Tensor {
                try batchNorm(
                    h, weight: p(prefix + ".weight"), bias: p(prefix + ".bias"),
                    runningMean: f.tensor(prefix + ".running_mean"), runningVar: f.tensor(prefix + ".running_var"),
                    training: true)
            }
            let x = try p("x")
            var out = try conv2d(
                x, weight: p("conv1.weight"), geometry: Conv2dGeometry(stride: (2, 2), padding: (1, 1)))
            out = try bn(out, "bn1").relu()
            out = try bn(conv2d(out, weight: p("conv2.weight"), geometry: Conv2dGeometry(padding: (1, 1))), "bn2")
            let shortcut = try bn(
                conv2d(x, weight: p("downsample.0.weight"), geometry: Conv2dGeometry(stride: (2, 2))),
                "downsample.1")
            return try (out + shortcut).relu().globalAvgPool()
        }
    }

    // MARK: - Large shapes (the multi-threaded Parallel.forEach paths)

    /// Inputs generated from a formula and outputs sampled every 7th element (see FixtureSupport.swift), with
    /// shapes over the ~32k-operation threshold at which conv2d (im2col, col2im, bias), batch-norm and the pools
    /// split work across threads.
    func testLargeShapesOnParallelPaths() throws {
        for name in ["conv2d_large", "conv2d_groups_stride2_large"] {
            try checkConv2d(name)
        }
        let f = try Fixture.load("batchnorm2d_train_large")
        let runningMean = Tensor.zeros([16])
        let runningVar = Tensor.ones([16])
        try checkForwardBackward("batchnorm2d_train_large", inputs: ["x", "w", "b"]) { _, t in
            // The script scales by weight + 1, so γ is near 1.
            try batchNorm(
                t["x"]!, weight: t["w"]! + 1, bias: t["b"], runningMean: runningMean, runningVar: runningVar,
                training: true)
        }
        assertClose(runningMean, try f.values("running_mean_after"), "large batch-norm running_mean")
        assertClose(runningVar, try f.values("running_var_after"), "large batch-norm running_var")
        let pool = Pool2dGeometry(kernel: (3, 3), stride: (2, 2), padding: (1, 1))
        try checkForwardBackward("maxpool_k3s2p1_large", inputs: ["x"]) { _, t in try t["x"]!.maxPool2d(pool) }
        try checkForwardBackward("avgpool_k3s2p1_large", inputs: ["x"]) { _, t in try t["x"]!.avgPool2d(pool) }
    }

    // MARK: - Optimizers

    /// Five steps on a linear model `mse(linear(x, w, b), y)`; the parameters after each step vs PyTorch.
    private func checkOptimizer(_ name: String, make: (Fixture, [Tensor]) throws -> Optimizer) throws {
        let f = try Fixture.load("optim_" + name)
        let x = try f.tensor("x")
        let y = try f.tensor("y")
        let w = try f.tensor("w", requiresGrad: true)
        let b = try f.tensor("b", requiresGrad: true)
        let optimizer = try make(f, [w, b])
        let wSteps = try f.values("w_steps")
        let bSteps = try f.values("b_steps")
        XCTAssertEqual(wSteps.shape[0], 5)
        for step in 0..<wSteps.shape[0] {
            optimizer.zeroGrad()
            try mseLoss(linear(x, weight: w, bias: b), y).backward()
            optimizer.step()
            assertClose(w, wSteps.row(step), "\(name) weight after step \(step + 1)")
            assertClose(b, bSteps.row(step), "\(name) bias after step \(step + 1)")
        }
    }

    func testSGDMomentumWeightDecay() throws {
        for (name, nesterov) in [("sgd_momentum", false), ("sgd_nesterov", true)] {
            try checkOptimizer(name) { f, params in
                try SGD(
                    params, lr: f.float("lr"), momentum: f.float("momentum"), weightDecay: f.float("weight_decay"),
                    nesterov: nesterov)
            }
        }
    }

    func testAdamAndAdamW() throws {
        for (name, decoupled) in [("adam", false), ("adam_l2", false), ("adamw", true)] {
            try checkOptimizer(name) { f, params in
                try Adam(params, lr: f.float("lr"), weightDecay: f.float("weight_decay"), decoupled: decoupled)
            }
        }
    }

    // MARK: - Learning-rate schedules

    /// The lr PyTorch's scheduler gives at each of 21 steps (read before `scheduler.step()`) vs `rate(at:base:)`.
    func testLearningRateSchedules() throws {
        let cases: [(String, (Fixture) throws -> LearningRateSchedule)] = [
            ("step", { f in .step(every: try f.int("every"), gamma: try f.float("gamma")) }),
            ("multistep", { f in .multiStep(milestones: try f.ints("milestones"), gamma: try f.float("gamma")) }),
            ("cosine", { f in .cosine(total: try f.int("total"), minimum: try f.float("minimum")) }),
            (
                "warmup_cosine",
                { f in
                    .warmup(
                        steps: try f.int("warmup"), startFactor: try f.float("start_factor"),
                        then: .cosine(total: try f.int("total"), minimum: try f.float("minimum")))
                }
            ),
        ]
        for (name, make) in cases {
            let f = try Fixture.load("schedule_" + name)
            let schedule = try make(f)
            let base = try f.float("base")
            let expected = try f.values("lr").data
            XCTAssertEqual(expected.count, 21)
            let got = (0..<expected.count).map { schedule.rate(at: $0, base: base) }
            assertClose(got, expected, "\(name) schedule lr")
        }
    }

    // MARK: - Dropout (PyTorch's RNG differs, so only the rule is checked)

    func testDropoutIdentityAndInvertedScaling() throws {
        var rng = SeededRandom(seed: 7)
        let x = Tensor.uniform([100, 100], low: 0.5, high: 1.5, rng: &rng, requiresGrad: true)
        XCTAssertEqual(try x.dropout(p: 0, training: true, rng: &rng).data, x.data, "p = 0 is the identity")
        XCTAssertEqual(try x.dropout(p: 0.5, training: false, rng: &rng).data, x.data, "eval mode is the identity")
        let p: Float = 0.3
        let y = try x.dropout(p: p, training: true, rng: &rng)
        var dropped = 0
        for i in 0..<x.count {
            if y.data[i] == 0 { dropped += 1 } else { XCTAssertEqual(y.data[i], x.data[i] / (1 - p), accuracy: 1e-5) }
        }
        XCTAssertEqual(Double(dropped) / Double(x.count), Double(p), accuracy: 0.02, "fraction dropped ≈ p")
        try y.sum().backward()
        let grad = try XCTUnwrap(x.grad)
        for i in 0..<x.count { XCTAssertEqual(grad.data[i], y.data[i] == 0 ? 0 : 1 / (1 - p), accuracy: 1e-5) }
    }
}
