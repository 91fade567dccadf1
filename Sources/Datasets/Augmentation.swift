import Tensors

/// Training-time image augmentation, applied per sample while a batch is assembled.
///
/// As torchvision's `RandomCrop(size, padding: p)` followed by `RandomHorizontalFlip(0.5)`: the
/// image is padded with `p` zero (black) pixels on every side and an `H x W` window is cut at a
/// uniformly random offset, then mirrored left-right with probability 1/2. Draws come from a
/// `SeededRandom` seeded by (seed, epoch, batch), so a run is reproducible.
public struct Augmentation: Sendable, Equatable, CustomStringConvertible {
    /// Zero padding `p` of the random crop, in pixels (0 = no crop). Shifts lie in `-p...p`.
    public var cropPadding: Int
    /// Mirror left-right with probability 1/2 (on for CIFAR, off for digits and Fashion-MNIST).
    public var horizontalFlip: Bool

    /// - Parameters: cropPadding `p` in pixels (a negative value is taken as 0); horizontalFlip on/off.
    public init(cropPadding: Int = 0, horizontalFlip: Bool = false) {
        self.cropPadding = max(0, cropPadding)
        self.horizontalFlip = horizontalFlip
    }

    /// No augmentation.
    public static let none = Augmentation()

    /// True when this changes nothing.
    public var isIdentity: Bool { cropPadding == 0 && !horizontalFlip }

    /// `crop 4 + flip`, `crop 2`, `flip` or `none`.
    public var description: String {
        let parts = (cropPadding > 0 ? ["crop \(cropPadding)"] : []) + (horizontalFlip ? ["flip"] : [])
        return parts.isEmpty ? "none" : parts.joined(separator: " + ")
    }

    /// Draws one sample's transform: row and column shift in `-p...p` and whether to mirror.
    func draw(_ rng: inout SeededRandom) -> (dy: Int, dx: Int, flip: Bool) {
        let p = cropPadding
        let dy = p > 0 ? rng.nextInt(below: 2 * p + 1) - p : 0
        let dx = p > 0 ? rng.nextInt(below: 2 * p + 1) - p : 0
        return (dy, dx, horizontalFlip && rng.nextInt(below: 2) == 1)
    }
}
