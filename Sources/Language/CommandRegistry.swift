/// The commands a session knows. Engine commands are added with `register(_:)`.
public final class CommandRegistry {
    private var byName: [String: CommandSpec] = [:]

    /// An empty registry.
    public init() {}

    /// Adds `spec` (replacing any command of the same name or alias).
    public func register(_ spec: CommandSpec) {
        for name in [spec.name] + spec.aliases { byName[name] = spec }
    }

    /// The command called `name` (or with that alias).
    public func lookup(_ name: String) -> CommandSpec? { byName[name] }

    /// Whether `name` is a command or alias.
    public func contains(_ name: String) -> Bool { byName[name] != nil }

    /// Every command once, sorted by name.
    public var commands: [CommandSpec] {
        byName.filter { $0.key == $0.value.name }.map(\.value).sorted { $0.name < $1.name }
    }

    /// All names and aliases, sorted.
    public var names: [String] { byName.keys.sorted() }
}
