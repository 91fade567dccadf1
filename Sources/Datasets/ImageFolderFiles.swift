// Listing an ImageFolder: which entries are class folders and image files, in code-point order.
import Foundation
import Storage

#if canImport(Glibc)
    import Glibc
#endif

extension DatasetLoader {
    enum FileKind { case directory, regular, other, missing }

    /// What `path` is, symbolic links followed (a dangling link is `.missing`).
    static func fileKind(_ path: String) -> FileKind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFREG: return .regular
        default: return .other
        }
    }

    /// The entries of `dir` (not `.` and `..`), unsorted.
    /// - Throws: `DatasetError.unreadable` when it cannot be listed, `.badImageFolder` for a name that is not UTF-8.
    static func entries(_ dir: String) throws -> [String] {
        guard let handle = opendir(dir) else {
            throw DatasetError.unreadable(path: printable(dir), reason: String(cString: strerror(errno)))
        }
        defer { closedir(handle) }
        var names = [String]()
        while let entry = readdir(handle) {
            let bytes = withUnsafeBytes(of: &entry.pointee.d_name) { raw in Array(raw.prefix { $0 != 0 }) }
            guard let name = String(validating: bytes, as: UTF8.self) else {
                throw DatasetError.badImageFolder(
                    path: dir,
                    reason: "the name of entry \(printable(String(decoding: bytes, as: UTF8.self))) is not UTF-8; "
                        + "rename it")
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Python's `sorted` on strings: by Unicode code point.
    static func codePointOrder(_ a: String, _ b: String) -> Bool {
        a.unicodeScalars.lexicographicallyPrecedes(b.unicodeScalars) { $0.value < $1.value }
    }

    /// The class folders of `dir`: its sub-folders not starting with `.`, sorted by code point.
    /// - Throws: `DatasetError.badImageFolder` when there is none, and the errors of `entries`.
    static func classFolders(_ dir: String) throws -> [String] {
        let classes = try entries(dir).filter { !$0.hasPrefix(".") && fileKind(dir + "/" + $0) == .directory }
            .sorted(by: codePointOrder)
        guard !classes.isEmpty else {
            throw DatasetError.badImageFolder(
                path: dir, reason: "no class folders (an ImageFolder holds one sub-folder of images per class)")
        }
        return classes
    }

    /// One image file found by the scan, with what its header says.
    struct ImageFile {
        let path: String
        let label: Int
        let format: Int
        let width: Int
        let height: Int
        let gray: Bool
        let alpha: Bool
        /// The file's size in bytes.
        let fileBytes: Int
    }

    /// Lists and probes the image files of class folders, counting what it skips.
    struct Scan {
        var hidden = 0, other = 0, unsupported = 0

        /// The image files of `classes` under `dir`, label = class position, in torchvision's order, each
        /// probed (format, size, gray, alpha).
        /// - Throws: `DatasetError.badImageFolder` for a class without images, `.badImage` for a file that
        ///   is empty, too large, unreadable or whose header is not PNG/JPEG, `CancellationError`.
        mutating func files(_ dir: String, classes: [String], cancelled: () -> Bool) throws -> [ImageFile] {
            var files = [ImageFile]()
            for (label, name) in classes.enumerated() {
                let classDir = dir + "/" + name
                var folders = [(path: String, files: [String])]()
                var visited = Set<[UInt64]>()
                try walk(classDir, depth: 0, into: &folders, visited: &visited, cancelled: cancelled)
                let paths = folders.sorted { codePointOrder($0.path, $1.path) }
                    .flatMap { folder in folder.files.sorted(by: codePointOrder).map { folder.path + "/" + $0 } }
                guard !paths.isEmpty else {
                    throw DatasetError.badImageFolder(
                        path: classDir, reason: "class folder without .png, .jpg or .jpeg files")
                }
                for path in paths {
                    if cancelled() { throw CancellationError() }
                    let bytes = try readImage(path)
                    let info = try probe(bytes, path: path)
                    files.append(
                        ImageFile(
                            path: path, label: label, format: Int(info.format), width: Int(info.width),
                            height: Int(info.height), gray: info.gray != 0, alpha: info.alpha != 0,
                            fileBytes: bytes.count))
                }
            }
            return files
        }

        /// Collects `dir` and the folders below it (symbolic links followed, each real folder once), each with
        /// its image file names; counts what is skipped. Polls `cancelled` at each folder: a class folder that
        /// links to a large tree (`/usr`) can be stopped with Ctrl-C.
        /// - Throws: `CancellationError`, and the errors of `entries`.
        private mutating func walk(
            _ dir: String, depth: Int, into folders: inout [(path: String, files: [String])],
            visited: inout Set<[UInt64]>, cancelled: () -> Bool
        ) throws {
            if cancelled() { throw CancellationError() }
            var info = stat()
            guard depth < 64, stat(dir, &info) == 0,
                visited.insert([UInt64(info.st_dev), UInt64(info.st_ino)]).inserted
            else {
                return
            }
            var files = [String]()
            for name in try entries(dir) {
                let path = dir + "/" + name
                let kind = fileKind(path)
                if name.hasPrefix(".") {
                    if kind != .directory { hidden += 1 }
                    continue
                }
                if kind == .directory {
                    try walk(path, depth: depth + 1, into: &folders, visited: &visited, cancelled: cancelled)
                    continue
                }
                let ext =
                    name.split(separator: ".", omittingEmptySubsequences: false).last
                    .map { $0.lowercased() } ?? ""
                if kind == .regular && name.contains(".") && imageExtensions.contains(ext) {
                    files.append(name)
                } else if name.contains(".") && unsupportedImageExtensions.contains(ext) {
                    unsupported += 1
                } else {
                    other += 1
                }
            }
            folders.append((dir, files))
        }

        /// `skipped N files: ...` or nil when nothing was skipped.
        var skippedSummary: String? {
            guard hidden + other + unsupported > 0 else { return nil }
            var parts = [String]()
            if unsupported > 0 {
                parts.append(
                    "\(unsupported) \(unsupportedImageExtensions.map { "." + $0 }.joined(separator: "/")) "
                        + "(only PNG and JPEG are read)")
            }
            if hidden > 0 { parts.append("\(hidden) hidden") }
            if other > 0 { parts.append("\(other) not .png/.jpg/.jpeg") }
            let count = hidden + other + unsupported
            return "skipped \(count) file" + (count == 1 ? "" : "s") + ": " + parts.joined(separator: ", ")
        }
    }
}
