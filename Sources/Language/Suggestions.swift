/// "Did you mean" support: the optimal-string-alignment edit distance (Levenshtein plus adjacent
/// transpositions, so `trian` is one edit from `train`).
public func editDistance(_ a: String, _ b: String) -> Int {
    let x = Array(a)
    let y = Array(b)
    if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
    var d = [[Int]](repeating: [Int](repeating: 0, count: y.count + 1), count: x.count + 1)
    for i in 0...x.count { d[i][0] = i }
    for j in 0...y.count { d[0][j] = j }
    for i in 1...x.count {
        for j in 1...y.count {
            let cost = x[i - 1] == y[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, x[i - 1] == y[j - 2], x[i - 2] == y[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[x.count][y.count]
}

/// The candidate closest to `word` if it is within `max(1, word.count / 3)` edits and fewer edits than either
/// word has characters (so `b` does not suggest `a`); ties: alphabetical first.
public func closestMatch(to word: String, among candidates: [String]) -> String? {
    let limit = max(1, word.count / 3)
    return candidates.sorted()
        .map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        .filter { $0.1 <= limit && $0.1 < min(word.count, $0.0.count) }
        .min { $0.1 < $1.1 }?.0
}

/// `"; did you mean 'x'?"` or "", from `closestMatch(to:among:)`.
public func didYouMean(_ word: String, _ candidates: [String]) -> String {
    closestMatch(to: word, among: candidates).map { "; did you mean '\($0)'?" } ?? ""
}
