import Networks

/// What one run spent, in multiply-accumulates (MACs), counted from the models' layer profiles
/// (`Layer.profile`: convolution = output elements × Cin/groups × kH × kW, linear = output elements ×
/// in_features, everything else 0). Methods are compared at equal `total`: a method that runs a teacher pays
/// for its forwards, a cache pays once for every image it holds, and validation is counted like training.
///
/// Training steps count, per image: the forward pass of every unit run, the weight gradient (one forward's
/// worth) of every unit that trains, and the input gradient (one forward's worth) of every unit behind which
/// something still trains — so a fully trained network costs about 3× its forward pass, the usual estimate.
public struct ComputeCost: Codable, Equatable, Sendable {
    /// Student (and adapter) forward and backward passes of the training steps.
    public var training: Int = 0
    /// Teacher forward passes during the training steps (0 when its outputs come from a cache).
    public var teacher: Int = 0
    /// Building feature caches: teacher targets or logits, a frozen prefix's or backbone's outputs.
    public var caches: Int = 0
    /// Validation and distance measurements (including the distance before a mimic).
    public var evaluation: Int = 0

    /// Creates a cost; every part defaults to 0.
    public init(training: Int = 0, teacher: Int = 0, caches: Int = 0, evaluation: Int = 0) {
        self.training = training
        self.teacher = teacher
        self.caches = caches
        self.evaluation = evaluation
    }

    /// Everything the run spent, in MACs.
    public var total: Int { training + teacher + caches + evaluation }

    /// `12.3 GMAC`, `2.00 TMAC` (or MMAC; whole MACs below a million): three significant digits, trailing zeros kept.
    public static func format(_ macs: Int) -> String {
        let v = Double(macs)
        // Three significant digits, trailing zeros kept (2.00 TMAC beside 2.42 TMAC), no bare trailing point.
        func three(_ x: Double) -> String {
            let text = String(format: "%#.3g", x)
            return text.hasSuffix(".") ? String(text.dropLast()) : text
        }
        if v >= 1e12 { return three(v / 1e12) + " TMAC" }
        if v >= 1e9 { return three(v / 1e9) + " GMAC" }
        if v >= 1e6 { return three(v / 1e6) + " MMAC" }
        return String(format: "%.0f MAC", v)
    }
}

/// Per-image cost arithmetic of one model for one input size, from `Model.unitCosts(inputShape:)`.
/// Ranges index the model's units, as `Model.Stage.range` does.
public struct CostProfile {
    /// Per-unit forward MACs for one image and whether the unit trains.
    public let units: [Model.UnitCost]

    /// Profiles `model` for one image of shape `imageShape` (`[C, H, W]`) with its current frozen units.
    /// - Throws: `TensorError` when the image does not fit the model.
    public init(_ model: Model, imageShape: [Int]) throws {
        units = try model.unitCosts(inputShape: [1] + imageShape)
    }

    /// Every unit.
    public var all: Range<Int> { 0..<units.count }

    /// Forward MACs of units `r` for one image.
    public func forward(_ r: Range<Int>) -> Int { units[r].reduce(0) { $0 + $1.macs } }

    /// MACs of one training step for one image over units `r`: each unit's forward, plus its weight gradient
    /// when it trains, plus its input gradient when a unit before it in `r` trains (the first trained unit
    /// needs no input gradient; frozen units before it run forward only).
    public func trainingStep(_ r: Range<Int>) -> Int {
        var total = 0
        var behindTrained = false
        for u in units[r] {
            total += u.macs
            if u.trains { total += u.macs }
            if behindTrained { total += u.macs }
            if u.trains { behindTrained = true }
        }
        return total
    }
}

/// Sizing a run to a compute budget: the number of optimizer steps whose whole cost fits it.
public enum ComputeBudget {
    /// Image-visits of a run of `steps` steps over `images` images in batches of `batchSize`
    /// (`batchesPerEpoch` per epoch, the last one possibly partial).
    public static func visits(steps: Int, images: Int, batchSize: Int, batchesPerEpoch: Int) -> Int {
        (steps / batchesPerEpoch) * images + min((steps % batchesPerEpoch) * batchSize, images)
    }

    /// The most steps a budget may buy (a billion: far beyond any run on one machine, and small enough that
    /// the cost arithmetic cannot overflow).
    public static let maximumSteps = 1_000_000_000

    /// The largest step count in `1...limit` whose `cost` (MACs, non-decreasing in the steps) is at most
    /// `budget`; 1 when even one step costs more (callers check `cost(1)` first).
    public static func steps(budget: Int, limit: Int = maximumSteps, cost: (Int) -> Int) -> Int {
        var lo = 1
        var hi = limit
        guard cost(lo) <= budget else { return 1 }
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2
            if cost(mid) <= budget { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }
}
