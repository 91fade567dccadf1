import Tensors

/// Seeded index selection shared by splits, limits and shuffling. All of it is a pure function of
/// the seed, so the same seed gives the same split, subset and batch order on every run.
enum Sampling {
    /// Mixes a seed with tags (split kind, epoch, batch number) into a new seed (SplitMix64 finaliser).
    static func mix(_ seed: UInt64, _ tags: UInt64...) -> UInt64 {
        tags.reduce(seed) { acc, tag in
            var x = acc ^ (tag &+ 0x9E37_79B9_7F4A_7C15) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
            x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
            return x ^ (x >> 31)
        }
    }

    /// `0..<count` in a seeded random order (Fisher–Yates).
    static func permutation(_ count: Int, seed: UInt64) -> [Int] {
        var rng = SeededRandom(seed: seed)
        var order = Array(0..<count)
        if count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.nextInt(below: i + 1)) }
        }
        return order
    }

    /// `count` indices, ascending, spread over the classes as evenly as their sizes allow: classes
    /// are visited round-robin, each giving its next (seeded random) sample until `count` are taken.
    /// - Precondition: `count <= labels.count`.
    static func balanced(labels: [Int], classCount: Int, count: Int, seed: UInt64) -> [Int] {
        precondition(count <= labels.count, "balanced: \(count) of \(labels.count)")
        var byClass = [[Int]](repeating: [], count: classCount)
        for i in permutation(labels.count, seed: seed) { byClass[labels[i]].append(i) }
        var picked = [Int]()
        picked.reserveCapacity(count)
        var round = 0
        while picked.count < count {
            for members in byClass where round < members.count && picked.count < count { picked.append(members[round]) }
            round += 1
        }
        return picked.sorted()
    }
}
