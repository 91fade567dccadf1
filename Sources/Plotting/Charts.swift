/// The three charts the REPL offers (`plot loss`, `plot acc`, `plot gap`), built from plain arrays the caller
/// takes from its run records. Each returns a ``PlotSpec`` with title, axis labels with units and a legend.

/// Training loss of one run or one stage of a stage-by-stage run.
public struct LossCurve: Equatable {
    /// Legend name, e.g. `"stage 2"` or `"KD"`.
    public var name: String
    /// Loss per optimisation step as `(step, loss)`; steps are global across stages so stages follow each other.
    public var steps: [PlotSpec.Point]
    /// Mean loss per epoch as `(step at the end of the epoch, mean loss)`.
    public var epochs: [PlotSpec.Point]

    /// Creates a curve from `(step, loss)` tuples.
    public init(name: String, steps: [(Double, Double)], epochs: [(Double, Double)] = []) {
        self.name = name
        self.steps = steps.map { PlotSpec.Point(x: $0.0, y: $0.1) }
        self.epochs = epochs.map { PlotSpec.Point(x: $0.0, y: $0.1) }
    }
}

/// Top-1 accuracy per epoch of one run, on the split its epochs were measured on (validation, or test).
public struct AccuracyCurve: Equatable {
    /// Legend name, e.g. `"scratch"`, `"KD"`, `"FitNets"`, `"AT"`, `"SSKD"`.
    public var name: String
    /// `(epoch, top-1 in %)`.
    public var points: [PlotSpec.Point]

    /// Creates a curve from `(epoch, top-1 %)` tuples.
    public init(name: String, points: [(Double, Double)]) {
        self.name = name
        self.points = points.map { PlotSpec.Point(x: $0.0, y: $0.1) }
    }
}

/// How far one student stage is from its teacher stage, before and after that stage's distillation.
public struct StageGap: Equatable {
    /// Tick label, e.g. `"stage 1"`.
    public var stage: String
    /// Normalised feature distance before distillation, e.g. `‖f_s − f_t‖² / ‖f_t‖²` (dimensionless).
    public var before: Double
    /// The same distance after distillation.
    public var after: Double
    /// Teacher top-1 minus student top-1 after this stage, in percentage points; `nil` if not measured.
    public var top1Gap: Double?

    /// Creates one stage's gap record.
    public init(stage: String, before: Double, after: Double, top1Gap: Double? = nil) {
        self.stage = stage
        self.before = before
        self.after = after
        self.top1Gap = top1Gap
    }
}

extension PlotSpec {
    /// Light grey used for raw per-step loss so the smoothed curve stands out.
    static let rawLossColor = "#c8c8c8"

    /// Training loss: raw per-step loss (light grey, no legend entry when there are several stages), its
    /// bias-corrected EMA (``exponentialMovingAverage(_:smoothing:)``) and per-epoch means as black points.
    /// With several curves (a stage-by-stage run) each stage gets its own coloured smoothed curve, a dotted
    /// marker at its first step, and the legend moves above the plot.
    ///
    /// - Parameters: `lossLabel` names the loss and its unit for the Y axis; `smoothing` is the EMA `β`.
    /// - Throws: ``PlotError/invalidSmoothing(_:)``.
    public static func loss(
        stages: [LossCurve], title: String = "Training loss",
        lossLabel: String = "loss (nats)", smoothing: Double = 0.9
    ) throws -> PlotSpec {
        let single = stages.count == 1
        var series: [Series] = []
        for curve in stages {
            let raw = curve.steps.map { ($0.x, $0.y) }
            series.append(Series(name: single ? "loss per step" : "", points: raw, color: rawLossColor))
        }
        for (index, curve) in stages.enumerated() {
            let smooth = try exponentialMovingAverage(curve.steps.map(\.y), smoothing: smoothing)
            let name = (single ? "" : curve.name + " ") + "EMA \(smoothing)"
            series.append(
                Series(
                    name: name, points: zip(curve.steps, smooth).map { ($0.x, $1) },
                    color: GnuplotScript.palette[index % GnuplotScript.palette.count]))
        }
        let epochs = stages.flatMap(\.epochs).map { ($0.x, $0.y) }
        series.append(Series(name: "epoch mean", points: epochs, style: .points, color: "#000000"))
        let markers =
            single
            ? []
            : stages.dropFirst().compactMap { curve in
                curve.steps.first.map { ReferenceLine($0.x, label: curve.name) }
            }
        return PlotSpec(
            title: title, xLabel: "step", yLabel: lossLabel, series: series, verticalMarkers: markers,
            legend: single ? .topRight : .above)
    }

    /// Top-1 accuracy (%) per epoch, one line per run, and the teacher's top-1 as a dashed line. `title` and
    /// `yLabel` name the split the epochs were measured on (validation by default; say "test" for runs without one).
    public static func accuracy(
        runs: [AccuracyCurve], teacherTop1: Double? = nil,
        title: String = "Validation top-1 accuracy", yLabel: String = "validation top-1 (%)"
    ) -> PlotSpec {
        let series = runs.map { Series(name: $0.name, points: $0.points.map { ($0.x, $0.y) }, style: .linespoints) }
        let teacher = teacherTop1.map { [ReferenceLine($0, label: "teacher (\($0)%)")] } ?? []
        return PlotSpec(
            title: title, xLabel: "epoch", yLabel: yLabel, series: series,
            horizontalLines: teacher, legend: .bottomRight)
    }

    /// Student–teacher gap per stage: grouped bars of the normalised feature distance before and after
    /// distillation (left axis, from 0), and the top-1 gap in percentage points as a line with markers on the
    /// right axis (`top1Label` in the legend), whose range includes 0 so that the line's height reads as its size
    /// (a single value, e.g. the final gap drawn at every stage, is not stretched across the whole axis).
    public static func gap(
        stages: [StageGap], title: String = "Student–teacher gap per stage", top1Label: String = "top-1 gap"
    ) -> PlotSpec {
        let width = 0.35
        let positions = stages.indices.map { Double($0 + 1) }
        var series = [
            Series(
                name: "before distillation", points: zip(positions, stages).map { ($0 - width / 2, $1.before) },
                style: .boxes(width: width)),
            Series(
                name: "after distillation", points: zip(positions, stages).map { ($0 + width / 2, $1.after) },
                style: .boxes(width: width)),
        ]
        let top1 = zip(positions, stages).compactMap { x, stage in stage.top1Gap.map { (x, $0) } }
        var y2Range: ClosedRange<Double>?
        if !top1.isEmpty {
            series.append(Series(name: top1Label, points: top1, style: .linespoints, axis: .right))
            let gaps = top1.map(\.1).filter(\.isFinite)
            let (low, high) = (min(gaps.min() ?? 0, 0), max(gaps.max() ?? 0, 0))
            // Headroom of 60% above the line keeps it below the legend in the top corner.
            let span = high - low
            y2Range = (low < 0 ? low - max(span * 0.15, 1) : 0)...(high + max(span * 0.6, 1))
        }
        let highest = stages.flatMap { [$0.before, $0.after] }.filter(\.isFinite).max() ?? 1
        var spec = PlotSpec(
            title: title, xLabel: "stage", yLabel: "normalised feature distance",
            y2Label: "top-1 gap (pp)", series: series,
            xTicks: zip(positions, stages).map { Tick($0, label: $1.stage) },
            xRange: 0.4...(Double(stages.count) + 0.6), yRange: 0...(highest > 0 ? highest * 1.15 : 1))
        spec.y2Range = y2Range
        return spec
    }
}
