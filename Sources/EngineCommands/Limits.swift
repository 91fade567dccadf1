import Language

// Bounds on user-given sizes.

/// Bounds on user-given sizes, checked before anything is allocated (docs/language.md, "model ARCH"). Each is
/// defined here once: the options declare it (`bounds: .range(Limits.channels)`, so `help` shows it) and the checks
/// of computed values and checkpoint metadata read it. The parameter limit of `model` is the zoo's
/// (`Zoo.parameterLimit`).
enum Limits {
    /// Input channels of `model`/`load` (`channels=`).
    static let channels = 1...4096
    /// Output classes of `model`/`load` (`classes=`); ImageNet-21k has 21,841.
    static let classes = 1...100_000
    /// One hidden width of `model mlp`/`cnn` (`widths=`).
    static let width = 1...65_536
    /// Each side of an ImageFolder's images after `data DIR size=` (pixels).
    static let imageSide = 1...65_536
    /// Each side of a plot image (`plot ... size="WxH"`, pixels).
    static let plotSide = 16...10_000
    /// Image counts of `data` (`limit=`, `labels=`, `test=`): at least 1, within Int32.
    static let images = Bounds.atLeast(1, upper: Int(Int32.max))
    /// Images held out for validation (`val=`): at least 0, within Int32.
    static let heldOut = Bounds.atLeast(0, upper: Int(Int32.max))
}
