import Tensors

/// `count` seeded mutants of `base`, as a fuzzer makes them: flipped bits, random bytes, one of `boundaries`
/// (boundary integers, format-specific tokens) written over header fields, cut, inserted, repeated or deleted
/// runs. The same on every run for the same seed. Shared by the readers' seeded random-input tests
/// (`MutationTests`, `CheckpointMutationTests`; docs/reliability.md).
public func mutants(of base: [UInt8], count: Int, seed: UInt64, boundaries: [[UInt8]]) -> [[UInt8]] {
    var rng = SeededRandom(seed: seed)
    return (0..<count).map { _ in
        var bytes = base
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1 where !bytes.isEmpty: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 2:
                let b = boundaries[Int.random(in: 0..<boundaries.count, using: &rng)]
                bytes.replaceSubrange(at..<min(at + b.count, bytes.count), with: b)
            case 3: bytes.removeSubrange(at...)
            case 4:
                bytes.insert(contentsOf: bytes[at..<min(at + Int.random(in: 1...64, using: &rng), bytes.count)], at: at)
            default: bytes.removeSubrange(at..<min(at + Int.random(in: 1...16, using: &rng), bytes.count))
            }
        }
        return bytes
    }
}
