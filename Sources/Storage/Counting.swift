/// A count and its English noun, plural unless the count is exactly 1: `1 stage`, `0 stages`, `3 runs`,
/// `2 classes`, `1 batch`. The plural adds `es` after `s`, `x`, `ch` and `sh`, else `s`; `plural` gives any other
/// form. Every "N things" message of sskd says it through this, so none reads "1 stages".
public func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    guard count != 1 else { return "1 \(noun)" }
    if let plural { return "\(count) \(plural)" }
    let sibilant = ["s", "x", "ch", "sh"].contains { noun.hasSuffix($0) }
    return "\(count) \(noun)\(sibilant ? "es" : "s")"
}
