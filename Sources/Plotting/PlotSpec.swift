/// A chart described as plain data, independent of gnuplot and of any training code.
///
/// A `PlotSpec` is what the REPL builds (usually with ``PlotSpec/loss(stages:title:lossLabel:smoothing:)``,
/// ``PlotSpec/accuracy(runs:teacherTop1:title:)`` or ``PlotSpec/gap(stages:title:)``) and hands to
/// ``Gnuplot/render(_:to:)``; the same value is exported as CSV with ``PlotSpec/csvColumns``.
/// Every chart carries a title, axis labels with units and a legend (series names).
public struct PlotSpec: Equatable {
    /// Chart title, e.g. `"Training loss — resnet20 ← resnet56"`.
    public var title: String
    /// X-axis label with its unit, e.g. `"step"` or `"epoch"`.
    public var xLabel: String
    /// Left Y-axis label with its unit, e.g. `"loss (cross-entropy, nats)"` or `"top-1 (%)"`.
    public var yLabel: String
    /// Right Y-axis label with its unit; only drawn when some series uses ``Series/Axis/right``.
    public var y2Label: String?
    /// The data, drawn in order (later series on top).
    public var series: [Series]
    /// Horizontal reference lines across the whole chart, e.g. the teacher's top-1; each gets a legend entry.
    public var horizontalLines: [ReferenceLine]
    /// Vertical dotted markers with a label near the top, e.g. stage boundaries in a stage-by-stage run.
    public var verticalMarkers: [ReferenceLine]
    /// Named x ticks replacing the numeric ones, e.g. `(1, "stage 1")`; `nil` keeps gnuplot's ticks.
    public var xTicks: [Tick]?
    /// Fixed X range `lower...upper` in X units; `nil` lets gnuplot autoscale.
    public var xRange: ClosedRange<Double>?
    /// Logarithmic left Y axis (values ≤ 0 are then skipped by gnuplot).
    public var logY: Bool
    /// Fixed left Y range `lower...upper` in Y units; `nil` lets gnuplot autoscale.
    public var yRange: ClosedRange<Double>?
    /// Fixed right Y range `lower...upper` in the right axis' units (only used with a right-axis series); `nil`
    /// lets gnuplot autoscale.
    public var y2Range: ClosedRange<Double>?
    /// Where the legend (key) sits; pick the corner the curves leave empty.
    public var legend: Legend

    /// Creates a chart; every argument after `series` defaults to "none".
    public init(
        title: String, xLabel: String, yLabel: String, y2Label: String? = nil, series: [Series],
        horizontalLines: [ReferenceLine] = [], verticalMarkers: [ReferenceLine] = [],
        xTicks: [Tick]? = nil, xRange: ClosedRange<Double>? = nil, logY: Bool = false,
        yRange: ClosedRange<Double>? = nil,
        legend: Legend = .topRight
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.y2Label = y2Label
        self.series = series
        self.horizontalLines = horizontalLines
        self.verticalMarkers = verticalMarkers
        self.xTicks = xTicks
        self.xRange = xRange
        self.logY = logY
        self.yRange = yRange
        self.legend = legend
    }

    /// Legend placement inside the plot area (gnuplot `set key`).
    public enum Legend: String, Equatable {
        /// Upper right corner, good for falling curves such as loss.
        case topRight = "top right"
        /// Lower right corner, good for rising curves such as accuracy.
        case bottomRight = "bottom right"
        /// Upper left corner.
        case topLeft = "top left"
        /// Lower left corner.
        case bottomLeft = "bottom left"
        /// Above the plot area in a row, when every corner has data (e.g. stage-by-stage loss).
        case above = "above center horizontal"

        /// The `set key` position words.
        var gnuplot: String { rawValue }
    }

    /// One named sequence of `(x, y)` points drawn in one style.
    public struct Series: Equatable {
        /// How the points are joined.
        public enum Style: Equatable {
            /// Straight segments between consecutive points (gnuplot `with lines`).
            case lines
            /// Markers only (`with points`).
            case points
            /// Segments and markers (`with linespoints`).
            case linespoints
            /// A staircase: horizontal then vertical segments (`with steps`).
            case steps
            /// Filled bars of `width` X units centred on each x (`with boxes`), for grouped bar charts.
            case boxes(width: Double)
        }

        /// Which Y axis the series is measured against.
        public enum Axis: Equatable {
            /// The left axis, labelled ``PlotSpec/yLabel``.
            case left
            /// The right axis, labelled ``PlotSpec/y2Label``.
            case right
        }

        /// Legend entry; an empty name draws the series without a legend entry.
        public var name: String
        /// The data as `(x, y)` in axis units; non-finite values are left as gaps.
        public var points: [Point]
        /// Drawing style.
        public var style: Style
        /// Colour as `"#rrggbb"` (e.g. a light grey for raw per-step loss); `nil` uses gnuplot's palette.
        public var color: String?
        /// The Y axis this series uses.
        public var axis: Axis

        /// Creates a series from `(x, y)` tuples.
        public init(
            name: String, points: [(Double, Double)], style: Style = .lines,
            color: String? = nil, axis: Axis = .left
        ) {
            self.name = name
            self.points = points.map { Point(x: $0.0, y: $0.1) }
            self.style = style
            self.color = color
            self.axis = axis
        }
    }

    /// One data point in axis units.
    public struct Point: Equatable {
        /// X value in X-axis units.
        public var x: Double
        /// Y value in the series' Y-axis units.
        public var y: Double
        /// Creates a point.
        public init(x: Double, y: Double) {
            self.x = x
            self.y = y
        }
    }

    /// A labelled constant: `y` for a horizontal line, `x` for a vertical marker (in axis units).
    public struct ReferenceLine: Equatable {
        /// Position along the axis it crosses.
        public var value: Double
        /// Text shown in the legend (horizontal lines) or beside the marker (vertical markers).
        public var label: String
        /// Creates a reference line.
        public init(_ value: Double, label: String) {
            self.value = value
            self.label = label
        }
    }

    /// A named tick on the X axis.
    public struct Tick: Equatable {
        /// Position in X units.
        public var x: Double
        /// Text printed under the axis.
        public var label: String
        /// Creates a tick.
        public init(_ x: Double, label: String) {
            self.x = x
            self.label = label
        }
    }
}
