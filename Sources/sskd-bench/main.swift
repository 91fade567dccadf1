import Foundation
import Tensors

// Temporary manual resnet20 (CIFAR, 3x32x32, 100 classes) from raw ops, for profiling the engine.
var rng = SeededRandom(seed: 0)
struct ConvBN { var w: Tensor; var g: Tensor; var b: Tensor; var rm: Tensor; var rv: Tensor; var geo: Conv2dGeometry }
func cbn(_ cin: Int, _ cout: Int, _ k: Int, _ stride: Int) -> ConvBN {
    ConvBN(w: .kaimingNormal([cout, cin, k, k], rng: &rng), g: .ones([cout], requiresGrad: true), b: .zeros([cout], requiresGrad: true),
           rm: .zeros([cout]), rv: .ones([cout]), geo: Conv2dGeometry(stride: (stride, stride), padding: (k / 2, k / 2)))
}
func run(_ l: ConvBN, _ x: Tensor, _ train: Bool) throws -> Tensor {
    try batchNorm(try conv2d(x, weight: l.w, geometry: l.geo), weight: l.g, bias: l.b, runningMean: l.rm, runningVar: l.rv, training: train)
}
var blocks: [(ConvBN, ConvBN, ConvBN?)] = []
var cin = 16
for (cout, s) in [(16, 1), (32, 2), (64, 2)] {
    for i in 0..<3 {
        let stride = i == 0 ? s : 1
        blocks.append((cbn(cin, cout, 3, stride), cbn(cout, cout, 3, 1), (stride != 1 || cin != cout) ? cbn(cin, cout, 1, stride) : nil))
        cin = cout
    }
}
let stem = cbn(3, 16, 3, 1)
let fcW = Tensor.defaultWeight([100, 64], rng: &rng), fcB = Tensor.defaultBias(100, fanIn: 64, rng: &rng)
func forward(_ x: Tensor, _ train: Bool) throws -> Tensor {
    var h = try run(stem, x, train).relu()
    for (a, b, sc) in blocks {
        let o = try run(b, try run(a, h, train).relu(), train)
        h = try (o + (sc != nil ? try run(sc!, h, train) : h)).relu()
    }
    return try linear(try h.globalAvgPool(), weight: fcW, bias: fcB)
}
var params = [stem.w, stem.g, stem.b, fcW, fcB]
for (a, b, sc) in blocks { for l in [a, b] + (sc.map { [$0] } ?? []) { params += [l.w, l.g, l.b] } }
let opt = try SGD(params, lr: 0.01, momentum: 0.9)
let x = Tensor.normal([64, 3, 32, 32], rng: &rng)
let y = (0..<64).map { _ in rng.nextInt(below: 100) }
Parallel.threads = 2
var times: [Double] = []
for i in 0..<25 {
    let t0 = Date()
    opt.zeroGrad()
    let loss = try crossEntropy(try forward(x, true), targets: y)
    try loss.backward()
    opt.step()
    if i >= 5 { times.append(Date().timeIntervalSince(t0) * 1000) }
}
times.sort()
print("train resnet20 b64 median \(times[times.count / 2]) ms min \(times[0]) ms")
