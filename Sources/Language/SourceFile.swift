import Foundation

/// Why a script file could not be read (`sskd FILE`, `source FILE`).
public enum SourceFileError: Error, CustomStringConvertible, Equatable {
    /// No file at the path.
    case notFound(String)
    /// The file is not UTF-8 text.
    case notText(String)
    /// A directory, or no permission to read.
    case unreadable(String)

    /// `cannot read 'PATH': REASON`
    public var description: String {
        switch self {
        case .notFound(let p): return "cannot read '\(p)': no such file"
        case .notText(let p): return "cannot read '\(p)': not UTF-8 text"
        case .unreadable(let p): return "cannot read '\(p)': permission denied or not a regular file"
        }
    }

    /// Reads the UTF-8 text file at `path`, throwing a `SourceFileError` naming it.
    public static func read(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw notFound(path) }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw unreadable(path)
        }
        guard let text = String(data: data, encoding: .utf8) else { throw notText(path) }
        return text
    }
}
