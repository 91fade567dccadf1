import Foundation

/// How pixel values are normalised after scaling to `[0, 1]`: `x' = (x - mean[c]) / std[c]` per channel.
///
/// The statistics are fixed once per data set, so every subset (`val=`, `limit=`, `labels=`) sees the
/// same inputs, and a teacher trained elsewhere gets the preprocessing it was trained with.
public enum Normalization: Sendable, Equatable {
    /// Mean and (population) standard deviation of each channel over the full train split given to
    /// `DataSplits.init`, before the validation hold-out and the limit.
    case computed
    /// Given per-channel values (e.g. CIFAR-10's mean `[0.4914, 0.4822, 0.4465]`), one of each per channel.
    case given(mean: [Float], std: [Float])
    /// A published mean/std by name, one of `Normalization.presetNames` (`"cifar10"`, `"half"`, ...).
    case preset(String)
    /// Only the `[0, 1]` scaling (mean 0, std 1), as torchvision's `ToTensor()` alone.
    case none

    /// The presets in the order help texts list them: `imagenet`, `cifar10`, `cifar100`, `mnist`,
    /// `fashion-mnist`, `half`.
    public static let presetNames = presets.map(\.name)

    /// Per-channel (mean, std) in `[0, 1]` units. Sources: ImageNet's are torchvision's (its reference
    /// training scripts); MNIST's are the PyTorch MNIST example's; CIFAR-10/100's are the statistics of
    /// their 50,000 train images (population std) and Fashion-MNIST's of its 60,000 (what `.computed`
    /// gives on the full set, checked in the tests); `half` maps `[0, 1]` to `[-1, 1]` for any channel count.
    static let presets: [(name: String, mean: [Float], std: [Float])] = [
        ("imagenet", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
        ("cifar10", [0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616]),
        ("cifar100", [0.5071, 0.4865, 0.4409], [0.2673, 0.2564, 0.2762]),
        ("mnist", [0.1307], [0.3081]),
        ("fashion-mnist", [0.2860], [0.3530]),
        ("half", [0.5], [0.5]),
    ]

    /// The per-channel mean and std `[channels]` of the preset `name` in `[0, 1]` units, or nil for an unknown name
    /// or a preset of another channel count (`half` fits any).
    public static func presetValues(_ name: String, channels: Int) -> (mean: [Float], std: [Float])? {
        guard let preset = presets.first(where: { $0.name == name }), channels > 0 else { return nil }
        let half = [Float](repeating: 0.5, count: channels)
        if name == "half" { return (half, half) }
        return preset.mean.count == channels ? (preset.mean, preset.std) : nil
    }

    /// The mean/std `[C]` each to use with `train` (the full train split), and the choice's name
    /// (`"computed"`, `"none"`, `"given"` or the preset's name).
    /// - Throws: `DatasetError.invalidOption(name: "normalize", ...)` for an unknown preset, a preset
    ///   with another channel count than `train` (`half` fits any), or given values that are not one
    ///   finite mean and one positive finite std per channel.
    func resolve(for train: Dataset) throws -> (mean: [Float], std: [Float], name: String) {
        let channels = train.channels
        func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)" + (n == 1 ? "" : "s") }
        switch self {
        case .computed:
            let (mean, std) = Normalization.channelStatistics(train)
            return (mean, std, "computed")
        case .none:
            return ([Float](repeating: 0, count: channels), [Float](repeating: 1, count: channels), "none")
        case .preset(let name):
            guard let preset = Normalization.presets.first(where: { $0.name == name }) else {
                throw DatasetError.invalidOption(
                    name: "normalize",
                    reason: "unknown preset '\(name)' (known: \(Normalization.presetNames.joined(separator: ", ")))")
            }
            if name == "half" {
                return ([Float](repeating: 0.5, count: channels), [Float](repeating: 0.5, count: channels), name)
            }
            guard preset.mean.count == channels else {
                throw DatasetError.invalidOption(
                    name: "normalize",
                    reason:
                        "preset '\(name)' has \(count(preset.mean.count, "channel")) but \(train.name) has "
                        + "\(count(channels, "channel"))"
                )
            }
            return (preset.mean, preset.std, name)
        case .given(let mean, let std):
            guard mean.count == channels, std.count == channels else {
                throw DatasetError.invalidOption(
                    name: "normalize",
                    reason:
                        "needs one mean and one std per channel (\(train.name) has \(count(channels, "channel"))), "
                        + "got \(count(mean.count, "mean")) and \(count(std.count, "std"))"
                )
            }
            guard mean.allSatisfy(\.isFinite),
                std.allSatisfy({ $0 > 0 && $0.isFinite && (1 / $0).isFinite && $0 >= 1e-6 })
            else {
                throw DatasetError.invalidOption(
                    name: "normalize",
                    reason:
                        "every std must be at least 1e-6 (so that 1/std and the normalised pixels stay finite in "
                        + "Float32) and every value finite, got mean \(Normalization.format(mean)) std "
                        + "\(Normalization.format(std))"
                )
            }
            return (mean, std, "given")
        }
    }

    /// `[0.2860, 0.3530]`: values with four decimals, as summaries print them.
    static func format(_ values: [Float]) -> String {
        "[" + values.map { String(format: "%.4f", Double($0)) }.joined(separator: ", ") + "]"
    }

    /// Per-channel mean and (population) standard deviation of `data` in `[0, 1]` units, `[C]` each;
    /// a std of 0 becomes 1. Sums run in Double, per image and channel, so the result does not depend
    /// on how `data` was cut.
    static func channelStatistics(_ data: Dataset) -> (mean: [Float], std: [Float]) {
        let plane = data.height * data.width
        var sums = [Double](repeating: 0, count: data.channels)
        var squares = sums
        func accumulate<T>(_ values: [T], _ scale: Double, _ toDouble: (T) -> Double) {
            values.withUnsafeBufferPointer { v in
                for n in 0..<data.count {
                    for c in 0..<data.channels {
                        var s = 0.0
                        var q = 0.0
                        let base = (n * data.channels + c) * plane
                        for p in 0..<plane {
                            let x = toDouble(v[base + p]) * scale
                            s += x
                            q += x * x
                        }
                        sums[c] += s
                        squares[c] += q
                    }
                }
            }
        }
        switch data.pixels {
        case .uint8(let values): accumulate(values, 1.0 / 255) { Double($0) }
        case .float32(let values): accumulate(values, 1) { Double($0) }
        }
        let n = Double(max(1, data.count * plane))
        let mean = sums.map { $0 / n }
        let std = zip(squares, mean).map { q, m in (max(0, q / n - m * m)).squareRoot() }
        return (mean.map { Float($0) }, std.map { $0 > 0 ? Float($0) : 1 })
    }
}
