import Datasets
import Foundation
import Networks
import Tensors

// sskd-bench: times the reference workloads of `bench/bench_torch.py` on our engine, with the same
// models, batch sizes, steps, MAC counts and output columns, so that the two can be compared row by row
// (`scripts/bench-vs-torch` runs both interleaved). See docs/performance.md.
//
// usage: sskd-bench [--threads 2] [--only name,name] [--steps 50] [--json FILE] [--quiet SECONDS]
//        (--steps: timed steps after min(10, steps) warm-up steps; small values for callgrind)
//        sskd-bench --data    time loading the Fashion-MNIST train set (docs/performance.md: under one second)

// MARK: - Options

struct Options {
    var threads = 2
    var only: [String] = []
    var json: String?
    var quiet: Double = 0
    var data = false
    var steps = 50
}

func parseOptions() -> Options {
    var o = Options()
    var args = CommandLine.arguments.dropFirst().makeIterator()
    func value(_ flag: String) -> String {
        guard let v = args.next() else { fail("\(flag) needs a value") }
        return v
    }
    while let a = args.next() {
        switch a {
        case "--threads":
            guard let t = Int(value(a)), t >= 1 else { fail("--threads needs a positive integer") }
            o.threads = t
        case "--only":
            o.only = value(a).split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        case "--json": o.json = value(a)
        case "--quiet":
            guard let q = Double(value(a)), q >= 0 else { fail("--quiet needs seconds ≥ 0") }
            o.quiet = q
        case "--data": o.data = true
        case "--steps":
            guard let n = Int(value(a)), n >= 1 else { fail("--steps needs a positive integer") }
            o.steps = n
        case "-h", "--help":
            print(
                "usage: sskd-bench [--threads N] [--only name,...] [--steps N] [--json FILE] [--quiet SECONDS] | --data"
            )
            exit(0)
        default: fail("unknown option \(a)")
        }
    }
    return o
}

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(("sskd-bench: " + message + "\n").data(using: .utf8)!)
    exit(2)
}

// MARK: - Clocks and load (as bench_torch: 'foreign' = cores used by other processes during the timed loop)

func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

func processCPU() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Busy jiffies of the whole machine from the first line of /proc/stat (user..steal minus idle and iowait).
func busyJiffies() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
        let line = text.split(separator: "\n").first
    else { return 0 }
    let v = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
    guard v.count == 8 else { return 0 }
    return v.reduce(0, +) - v[3] - v[4]
}

let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

/// Blocks until the machine uses < `threshold` cores over a 2 s window, or `timeout` seconds pass.
func waitQuiet(timeout: Double, threshold: Double = 0.15, window: Double = 2) {
    let end = now() + timeout
    while now() < end {
        let b0 = busyJiffies()
        usleep(UInt32(window * 1e6))
        if (busyJiffies() - b0) / ticksPerSecond / window < threshold { return }
    }
}

struct Timing {
    var median: Double
    var min: Double
    var foreign: Double
    var own: Double
}

func timeit(_ step: () throws -> Void, warmup: Int = 10, iterations: Int = 50) rethrows -> Timing {
    for _ in 0..<warmup { try step() }
    let b0 = busyJiffies()
    let c0 = processCPU()
    let w0 = now()
    var times: [Double] = []
    for _ in 0..<iterations {
        let t0 = now()
        try step()
        times.append(now() - t0)
    }
    let wall = now() - w0
    let busy = (busyJiffies() - b0) / ticksPerSecond
    let own = processCPU() - c0
    times.sort()
    let median =
        times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    return Timing(median: median, min: times[0], foreign: Swift.max(0, busy - own) / wall, own: own / wall)
}

/// Times `step`; with `quiet` > 0 waits for an idle machine first and retries (up to 6 times) while other load was
/// seen.
func measure(_ step: () throws -> Void, quiet: Double, steps: Int) rethrows -> Timing {
    var best: Timing?
    for _ in 0..<(quiet > 0 ? 6 : 1) {
        if quiet > 0 { waitQuiet(timeout: quiet) }
        let r = try timeit(step, warmup: Swift.min(10, steps), iterations: steps)
        if best == nil || r.foreign < best!.foreign { best = r }
        if r.foreign <= 0.1 { break }
    }
    return best!
}

func peakRSSMiB() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024  // Linux: KiB
}

// MARK: - Reference models (bench_torch.py)

/// bench_torch `MLP`: flatten, Linear(784, 256), ReLU, Linear(256, 10).
final class BenchMLP: Layer {
    let fc1: Linear, fc2: Linear
    init(_ rng: inout WeightInit) {
        fc1 = Linear(784, 256, initializer: &rng)
        fc2 = Linear(256, 10, initializer: &rng)
    }
    func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        try fc2(fc1(x.flattened(), training: training).relu(), training: training)
    }
    var children: [(String, Layer)] { [("fc1", fc1), ("fc2", fc2)] }
    func profile(_ input: [Int]) throws -> LayerProfile {
        let a = try fc1.profile([input[0], input.dropFirst().reduce(1, *)])
        let b = try fc2.profile(a.output)
        return LayerProfile(output: b.output, macs: a.macs + b.macs)
    }
}

/// bench_torch `CNNSmall`: three (conv 3x3 with bias, BN, ReLU) blocks, max-pool 2 after the first two,
/// mean over H and W, Linear(64, 10).
final class BenchCNNSmall: Layer {
    let convs: [Conv2d], bns: [BatchNorm], fc: Linear
    init(_ rng: inout WeightInit) {
        convs = [
            Conv2d(1, 16, kernel: 3, padding: 1, bias: true, initializer: &rng),
            Conv2d(16, 32, kernel: 3, padding: 1, bias: true, initializer: &rng),
            Conv2d(32, 64, kernel: 3, padding: 1, bias: true, initializer: &rng),
        ]
        bns = [BatchNorm(16), BatchNorm(32), BatchNorm(64)]
        fc = Linear(64, 10, initializer: &rng)
    }
    func callAsFunction(_ x: Tensor, training: Bool) throws -> Tensor {
        var h = x
        for i in 0..<3 {
            h = try bns[i](convs[i](h, training: training), training: training, relu: true)
            if i < 2 { h = try h.maxPool2d(Pool2dGeometry(kernel: (2, 2))) }
        }
        return try fc(h.mean(axes: [2, 3]), training: training)
    }
    var children: [(String, Layer)] {
        [
            ("c1", convs[0]), ("b1", bns[0]), ("c2", convs[1]), ("b2", bns[1]), ("c3", convs[2]), ("b3", bns[2]),
            ("fc", fc),
        ]
    }
    func profile(_ input: [Int]) throws -> LayerProfile {
        var shape = input
        var macs = 0
        for i in 0..<3 {
            let p = try convs[i].profile(shape)
            macs += p.macs
            shape = p.output
            if i < 2 { shape = [shape[0], shape[1], shape[2] / 2, shape[3] / 2] }
        }
        let f = try fc.profile([shape[0], shape[1]])
        return LayerProfile(output: f.output, macs: macs + f.macs)
    }
}

/// MACs of a CIFAR ResNet's stem and first stage (`conv1 bn1 relu layer1`) for one input of shape `input`.
func stemStage1MACs(_ model: Model, _ input: [Int]) throws -> Int {
    var p = LayerProfile(output: input, macs: 0)
    for (name, layer) in model.children where ["conv1", "bn1", "relu", "layer1"].contains(name) {
        let q = try layer.profile(p.output)
        p = LayerProfile(output: q.output, macs: p.macs + q.macs)
    }
    return p.macs
}

// MARK: - Steps (bench_torch train_step_fn / infer_step_fn / mimic_step_fn)

func trainStep(_ forward: @escaping (Tensor, Bool) throws -> Tensor, parameters: [Tensor], x: Tensor, y: [Int]) throws
    -> () throws -> Void
{
    let opt = try SGD(parameters, lr: 0.01, momentum: 0.9)
    return {
        opt.zeroGrad()
        let loss = try crossEntropy(try forward(x, true), targets: y)
        try loss.backward()
        opt.step()
    }
}

func inferStep(_ forward: @escaping (Tensor, Bool) throws -> Tensor, x: Tensor) -> () throws -> Void {
    { _ = try withNoGrad { try forward(x, false) } }
}

func mimicStep(teacher: Model, student: Model, x: Tensor) throws -> () throws -> Void {
    for p in teacher.parameters() { p.requiresGrad = false }
    let params = student.namedParameters().filter { name, _ in
        name.hasPrefix("conv1.") || name.hasPrefix("bn1.") || name.hasPrefix("layer1.")
    }.map(\.1)
    let opt = try SGD(params, lr: 0.01, momentum: 0.9)
    return {
        let t = try withNoGrad { try teacher.forward(x, throughStage: 0, training: false) }
        opt.zeroGrad()
        let s = try student.forward(x, throughStage: 0, training: true)
        let loss = try mseLoss(s, t)
        try loss.backward()
        opt.step()
    }
}

/// The demo's student and teacher shape: a CIFAR ResNet on Fashion-MNIST images `[1, 28, 28]`, 10 classes, whose
/// stages 2 and 3 work on 14x14 and 7x7 maps.
func fashion(_ arch: String) throws -> Model { try Zoo.make(arch, channels: 1, classes: 10) }

/// Forward MACs of one Fashion-MNIST image `[1, 28, 28]` through the units `range` of `model`.
func unitMACs(_ model: Model, _ range: Range<Int>) throws -> Int {
    try model.unitCosts(inputShape: [1, 1, 28, 28])[range].reduce(0) { $0 + $1.macs }
}

/// The step of an SSKD mimic of stage `k` with the earlier stages frozen and the teacher's targets cached: only
/// stage k runs (train mode) on the frozen prefix's output `x`, MSE against `target`, backward, SGD over stage k.
func stageStep(_ model: Model, stage k: Int, x: Tensor, target: Tensor) throws -> () throws -> Void {
    let paths = model.stages[k].modules
    let params = model.namedParameters().filter { name, _ in paths.contains { name.hasPrefix($0 + ".") } }.map(\.1)
    let opt = try SGD(params, lr: 0.01, momentum: 0.9)
    return {
        opt.zeroGrad()
        let loss = try mseLoss(try model.forward(stage: k, x, training: true), target)
        try loss.backward()
        opt.step()
    }
}

/// The step of SSKD's head without a cache: the frozen backbone (eval mode, no gradients) on images `x`, then the
/// head (pool, classifier) with cross-entropy, backward, SGD over the head.
func headStep(_ model: Model, x: Tensor, y: [Int]) throws -> () throws -> Void {
    let last = model.stages.count - 1
    let paths = model.head.modules
    let params = model.namedParameters().filter { name, _ in paths.contains { name.hasPrefix($0 + ".") } }.map(\.1)
    let opt = try SGD(params, lr: 0.01, momentum: 0.9)
    return {
        let features = try withNoGrad { try model.forward(x, throughStage: last, training: false) }
        opt.zeroGrad()
        let loss = try crossEntropy(try model.forwardHead(features, training: true), targets: y)
        try loss.backward()
        opt.step()
    }
}

// MARK: - Main

struct Bench {
    let name: String
    let batch: Int
    let macsPerImage: Int
    let flopFactor: Int
    let make: () throws -> () throws -> Void
}

let options = parseOptions()
if options.data {
    // Median of 5 loads of the 60,000 gzipped training images and labels from the Debian package.
    var times: [Double] = []
    var count = 0
    for _ in 0..<5 {
        let t0 = now()
        do { count = try DatasetLoader.fashionMNIST(train: true).count } catch { fail("\(error)") }
        times.append(now() - t0)
    }
    times.sort()
    print(
        "load fashion-mnist train (\(count) images): median \(String(format: "%.3f", times[2])) s, min "
            + "\(String(format: "%.3f", times[0])) s"
    )
    exit(0)
}
Parallel.threads = options.threads
var rng = SeededRandom(seed: 0)
let batch = 64
let mnistX = Tensor.normal([batch, 1, 28, 28], rng: &rng)
let cifarX = Tensor.normal([batch, 3, 32, 32], rng: &rng)
let y10 = (0..<batch).map { _ in rng.nextInt(below: 10) }
let y100 = (0..<batch).map { _ in rng.nextInt(below: 100) }
let cifarX256 = Tensor.normal([256, 3, 32, 32], rng: &rng)
let cifar1 = [1, 3, 32, 32]
let stage2X = Tensor.normal([batch, 16, 28, 28], rng: &rng)
let stage2T = Tensor.normal([batch, 32, 14, 14], rng: &rng)
let stage3X = Tensor.normal([batch, 32, 14, 14], rng: &rng)
let stage3T = Tensor.normal([batch, 64, 7, 7], rng: &rng)

func zoo(_ arch: String, _ classes: Int) throws -> Model { try Zoo.make(arch, channels: 3, classes: classes) }

let benches: [Bench] = try [
    {
        var w = WeightInit(seed: 1)
        let m = BenchMLP(&w)
        return Bench(
            name: "train mlp b64", batch: batch, macsPerImage: try m.profile([1, 1, 28, 28]).macs, flopFactor: 3
        ) {
            try trainStep({ try m($0, training: $1) }, parameters: m.namedParameters().map(\.1), x: mnistX, y: y10)
        }
    }(),
    {
        var w = WeightInit(seed: 2)
        let m = BenchCNNSmall(&w)
        return Bench(
            name: "train cnn-small b64", batch: batch, macsPerImage: try m.profile([1, 1, 28, 28]).macs, flopFactor: 3
        ) {
            try trainStep({ try m($0, training: $1) }, parameters: m.namedParameters().map(\.1), x: mnistX, y: y10)
        }
    }(),
    Bench(
        name: "train resnet8 b64", batch: batch, macsPerImage: try zoo("resnet8", 10).profile(cifar1).macs,
        flopFactor: 3
    ) {
        let m = try zoo("resnet8", 10)
        return try trainStep({ try m.forward($0, training: $1) }, parameters: m.parameters(), x: cifarX, y: y10)
    },
    Bench(
        name: "train resnet20 b64", batch: batch, macsPerImage: try zoo("resnet20", 100).profile(cifar1).macs,
        flopFactor: 3
    ) {
        let m = try zoo("resnet20", 100)
        return try trainStep({ try m.forward($0, training: $1) }, parameters: m.parameters(), x: cifarX, y: y100)
    },
    Bench(
        name: "infer resnet8 b256", batch: 256, macsPerImage: try zoo("resnet8", 10).profile(cifar1).macs, flopFactor: 1
    ) {
        let m = try zoo("resnet8", 10)
        return inferStep({ try m.forward($0, training: $1) }, x: cifarX256)
    },
    Bench(
        name: "infer resnet20 b256", batch: 256, macsPerImage: try zoo("resnet20", 100).profile(cifar1).macs,
        flopFactor: 1
    ) {
        let m = try zoo("resnet20", 100)
        return inferStep({ try m.forward($0, training: $1) }, x: cifarX256)
    },
    Bench(
        name: "mimic r20->r8 stage1 b64", batch: batch,
        macsPerImage: try stemStage1MACs(zoo("resnet20", 100), cifar1) + 3 * stemStage1MACs(zoo("resnet8", 10), cifar1),
        flopFactor: 1
    ) {
        try mimicStep(teacher: zoo("resnet20", 100), student: zoo("resnet8", 10), x: cifarX)
    },
    // The scratch baseline of the demo's recipe: a resnet8 training step on Fashion-MNIST's 1x28x28 images (28x28,
    // 14x14 and 7x7 planes; what `train student` runs per batch).
    {
        let m = try fashion("resnet8")
        return Bench(
            name: "train r8 1x28x28 b64", batch: batch, macsPerImage: try m.profile([1, 1, 28, 28]).macs,
            flopFactor: 3
        ) { try trainStep({ try m.forward($0, training: $1) }, parameters: m.parameters(), x: mnistX, y: y10) }
    }(),
    // The late stages of the demo's recipe (Fashion-MNIST, resnet8 student): what one cached mimic step of stage 2
    // (16x28x28 -> 32x14x14: 3x3 stride 2, 1x1 stride-2 shortcut, 3x3 on 14x14) and stage 3 (-> 64x7x7) runs, and an
    // uncached head step (the frozen backbone's forward on 1x28x28 images, then pool + classifier).
    {
        let m = try fashion("resnet8")
        return Bench(
            name: "mimic r8 stage2 14x14 b64", batch: batch, macsPerImage: try unitMACs(m, m.stages[1].range),
            flopFactor: 3
        ) { try stageStep(m, stage: 1, x: stage2X, target: stage2T) }
    }(),
    {
        let m = try fashion("resnet8")
        return Bench(
            name: "mimic r8 stage3 7x7 b64", batch: batch, macsPerImage: try unitMACs(m, m.stages[2].range),
            flopFactor: 3
        ) { try stageStep(m, stage: 2, x: stage3X, target: stage3T) }
    }(),
    {
        let m = try fashion("resnet8")
        let backbone = try unitMACs(m, 0..<m.head.range.lowerBound)
        return Bench(
            name: "head r8 1x28x28 b64", batch: batch,
            macsPerImage: backbone + 3 * (try unitMACs(m, m.head.range)), flopFactor: 1
        ) { try headStep(m, x: mnistX, y: y10) }
    }(),
]

print("sskd-bench threads=\(Parallel.threads) kernels=\(kernelInstructionSet)")
func pad(_ s: String, _ n: Int, left: Bool = false) -> String {
    s.count >= n
        ? s : (left ? s + String(repeating: " ", count: n - s.count) : String(repeating: " ", count: n - s.count) + s)
}
func f(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
print(
    pad("benchmark", 28, left: true), pad("med_ms", 9), pad("min_ms", 9), pad("img/s", 9), pad("GFLOP/s", 8),
    pad("MFLOP/img", 10), pad("own_cpu", 7), pad("foreign", 7), pad("peak_MiB", 9))
var results: [[String: Any]] = []
for b in benches where options.only.isEmpty || options.only.contains(where: { b.name.contains($0) }) {
    let t: Timing
    do {
        let step = try b.make()
        t = try measure(step, quiet: options.quiet, steps: options.steps)
    } catch {
        fail("\(b.name): \(error)")
    }
    let flop = 2 * Double(b.macsPerImage * b.flopFactor * b.batch)
    let gflops = flop / t.median * 1e-9
    let rss = peakRSSMiB()
    print(
        pad(b.name, 28, left: true), pad(f(t.median * 1e3, 2), 9), pad(f(t.min * 1e3, 2), 9),
        pad(f(Double(b.batch) / t.median, 0), 9),
        pad(f(gflops, 1), 8), pad(f(2 * Double(b.macsPerImage * b.flopFactor) * 1e-6, 2), 10), pad(f(t.own, 2), 7),
        pad(f(t.foreign, 2), 7), pad(f(rss, 0), 9))
    fflush(stdout)
    results.append([
        "name": b.name, "med_ms": t.median * 1e3, "min_ms": t.min * 1e3, "img_s": Double(b.batch) / t.median,
        "gflops": gflops, "foreign": t.foreign, "peak_rss_mib": rss,
    ])
}
if let path = options.json {
    do {
        let data = try JSONSerialization.data(withJSONObject: results, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    } catch {
        fail("cannot write \(path): \(error)")
    }
}
