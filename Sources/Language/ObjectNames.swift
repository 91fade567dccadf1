/// Which of its names a report calls a session object bound to several (`b = student`): reports must not depend
/// on the order of a dictionary, which differs from one process to the next.
///
/// The rule (`Session.boundName(of:)`): the name the running command wrote for it (its argument's root name, as
/// `b` in `freeze b.stage[2]`), unless that is the variable of a running `for` loop; else the name it was first
/// bound to, while still bound to it; else the alphabetically first of its names.
final class ObjectNames: SessionState {
    /// The first name each object was bound to by an assignment (loop variables excepted), with a weak reference
    /// that tells a living object from a freed one whose identifier was reused.
    var first: [ObjectIdentifier: (object: WeakObject, name: String)] = [:]
    /// The root names of the running command's arguments (`b` for `b.stage[2]`), in order.
    var written: [String] = []
    /// The variables of the `for` loops running, innermost last.
    var loopVariables: [String] = []

    init() {}

    /// Notes that `name` was assigned `value`: the first name of the object it holds, if it has none yet.
    func noteAssignment(_ name: String, _ value: Value) {
        guard case .object(let object) = value else { return }
        let id = ObjectIdentifier(object)
        if let known = first[id], known.object.value === object { return }
        first[id] = (WeakObject(object), name)
    }

    /// The first name `object` was bound to, nil when it has none on record.
    func firstName(of object: AnyObject) -> String? {
        guard let known = first[ObjectIdentifier(object)], known.object.value === object else { return nil }
        return known.name
    }
}

/// A weak reference to an object.
struct WeakObject {
    weak var value: AnyObject?
    init(_ value: AnyObject) { self.value = value }
}

extension Session {
    /// The name reports call `object` by, nil when no name is bound to it: among the names bound to it, the one
    /// the running command wrote for it (not a running loop's variable), else the first it was bound to, else the
    /// alphabetically first (see `ObjectNames`).
    public func boundName(of object: AnyObject) -> String? {
        let names = Set(
            bindings.compactMap { name, value -> String? in
                if case .object(let o) = value, o === object { return name } else { return nil }
            })
        guard !names.isEmpty else { return nil }
        let record = state(ObjectNames.self)
        if let written = record.written.first(where: { names.contains($0) && !record.loopVariables.contains($0) }) {
            return written
        }
        if let first = record.firstName(of: object), names.contains(first) { return first }
        return names.sorted {
            (record.loopVariables.contains($0) ? 1 : 0, $0) < (record.loopVariables.contains($1) ? 1 : 0, $1)
        }
        .first
    }

    /// Notes an assignment's name for `boundName(of:)`.
    func noteAssignment(_ name: String, _ value: Value) { state(ObjectNames.self).noteAssignment(name, value) }

    /// Runs `body` with `call`'s argument root names as the names the running command wrote.
    func withWrittenNames<T>(_ call: CommandCall, _ body: () throws -> T) rethrows -> T {
        let record = state(ObjectNames.self)
        let saved = record.written
        record.written = call.arguments.flatMap { rootNames($0.value) }
        defer { state(ObjectNames.self).written = saved }
        return try body()
    }

    /// Runs `body` with `variable` as a running loop's variable.
    func withLoopVariable<T>(_ variable: String, _ body: () throws -> T) rethrows -> T {
        state(ObjectNames.self).loopVariables.append(variable)
        defer {
            let record = state(ObjectNames.self)
            if let i = record.loopVariables.lastIndex(of: variable) { record.loopVariables.remove(at: i) }
        }
        return try body()
    }
}

/// The names an argument expression starts from: `b` for `b`, `b.stage[2]` and `b.head`; each item's for a list.
private func rootNames(_ e: Expr) -> [String] {
    switch e {
    case .name(let n, _): return [n]
    case .member(let base, _, _), .index(let base, _, _): return rootNames(base)
    case .list(let items, _): return items.flatMap(rootNames)
    default: return []
    }
}
