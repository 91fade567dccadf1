import Foundation

/// Writes `bytes` to `url` so that readers see either the old file or the complete new one: the bytes go
/// to a temporary file in the same folder (same file system, so `rename(2)` is atomic), which is fsynced,
/// renamed over `url`, and the folder is fsynced. On any failure the temporary file is removed and the
/// old file is untouched.
/// - Throws: `CheckpointError.writeFailed(path:reason:)` with the OS reason (`Permission denied`,
///   `No such file or directory`, `No space left on device`, ...).
func atomicWrite(_ bytes: [UInt8], to url: URL) throws {
    let path = url.path
    let folder = url.deletingLastPathComponent().path
    let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0 ... .max))"
    func failure(_ step: String) -> CheckpointError {
        .writeFailed(path: path, reason: "\(step): \(String(cString: strerror(errno)))")
    }
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
    guard fd >= 0 else { throw failure("cannot create a temporary file in \(folder)") }
    var closed = false
    defer {
        if !closed { close(fd) }
        unlink(temporary)  // after a successful rename the name is gone and this is a no-op
    }
    var written = 0
    try bytes.withUnsafeBytes { buffer in
        guard let base = buffer.baseAddress else { return }
        while written < buffer.count {
            let n = write(fd, base + written, buffer.count - written)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw failure("write") }
            written += n
        }
    }
    guard fsync(fd) == 0 else { throw failure("fsync") }
    closed = true
    guard close(fd) == 0 else { throw failure("close") }
    guard rename(temporary, path) == 0 else { throw failure("rename") }
    let folderFD = open(folder, O_RDONLY)
    if folderFD >= 0 {
        _ = fsync(folderFD)  // best effort: makes the rename durable; not all file systems allow it
        close(folderFD)
    }
}

/// The bytes of the file at `path`.
/// - Throws: `CheckpointError.unreadable(path:reason:)` with the OS reason (`No such file or directory`,
///   `Is a directory`, `Permission denied`, ...).
func readFile(_ path: String) throws -> [UInt8] {
    var info = stat()
    if stat(path, &info) == 0, (info.st_mode & S_IFMT) != S_IFREG {
        throw CheckpointError.unreadable(path: path, reason: "not a regular file")
    }
    guard let file = fopen(path, "rb") else {
        throw CheckpointError.unreadable(path: path, reason: String(cString: strerror(errno)))
    }
    defer { fclose(file) }
    var bytes: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = fread(&chunk, 1, chunk.count, file)
        bytes += chunk.prefix(n)
        if n < chunk.count {
            guard ferror(file) == 0 else { throw CheckpointError.unreadable(path: path, reason: String(cString: strerror(errno))) }
            return bytes
        }
    }
}
