import Foundation

/// The steps of `atomicWrite`, named in its error messages and used by the test fault-injection seam.
enum WriteStep: String {
    case create = "create"
    case write = "write"
    case fsync = "fsync"
    case close = "close"
    case rename = "rename"
}

/// Test seam: when set, `atomicWrite` fails at `step` as if the OS had returned `errno` (e.g. `ENOSPC` at
/// `.write` simulates a full disk). Internal; only `@testable` tests set it, and they reset it.
nonisolated(unsafe) var injectedWriteFault: (step: WriteStep, errno: Int32)?

/// Checks that `atomicWrite` may replace what is at `path`: nothing, a regular file with a write permission bit,
/// or a folder (which then fails at the rename, naming it). Callers that write several files (a notebook and its
/// images) run it first, so that a refused target leaves nothing behind.
/// - Returns: the permission bits the written file gets: the existing file's, else 0o644.
/// - Throws: `StorageError.writeFailed(path:reason:code:)` for a symbolic link, FIFO, device or other non-regular
///   file (renaming over it would destroy it), or a read-only file.
@discardableResult
public func replaceablePermissions(_ path: String) throws -> mode_t {
    var existing = stat()
    let exists = lstat(path, &existing) == 0
    let mode = exists ? existing.st_mode & S_IFMT : S_IFREG
    if mode != S_IFREG && mode != S_IFDIR {
        let kind: String
        switch mode {
        case S_IFLNK: kind = "a symbolic link"
        case S_IFIFO: kind = "a FIFO"
        case S_IFCHR, S_IFBLK: kind = "a device"
        default: kind = "not a regular file"
        }
        throw StorageError.writeFailed(
            path: path, reason: "it is \(kind); only a regular file is replaced", code: EEXIST)
    }
    let permissions = exists && mode == S_IFREG ? existing.st_mode & 0o7777 : 0o644
    if exists && mode == S_IFREG && permissions & 0o222 == 0 {
        throw StorageError.writeFailed(
            path: path,
            reason: "it is read-only (mode \(String(permissions, radix: 8))); make it writable to replace it",
            code: EACCES)
    }
    return permissions
}

/// Writes `bytes` to `path` so that readers see either the old file or the complete new one: the bytes go
/// to a temporary file in the same folder (same file system, so `rename(2)` is atomic), which is written,
/// fsynced, closed, renamed over `path`, and then the folder is fsynced so the rename survives a crash.
/// On any failure the temporary file is removed and the old file is untouched. A replaced file keeps its
/// permission bits. Refused before anything is written: an existing `path` that is a device, FIFO or symbolic
/// link (renaming over it would destroy it), a read-only file (no write permission bit), and a path holding a
/// NUL character (the OS would see a shorter name). The temporary file is `.sskd-PID-N.tmp`, short whatever
/// `path`'s length; ones a killed sskd process left in the folder are removed.
/// - Throws: `StorageError.writeFailed(path:reason:code:)`; `reason` is the step and the OS message, e.g.
///   `write: No space left on device`, `rename: Is a directory`, or
///   `cannot create a temporary file in /a/b: Permission denied` (also `Not a directory` when a parent
///   of `path` is a regular file).
public func atomicWrite<Bytes: ContiguousBytes>(_ bytes: Bytes, to path: String) throws {
    guard !path.utf8.contains(0) else {
        throw StorageError.writeFailed(path: path, reason: "the path holds a NUL character", code: EINVAL)
    }
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent().path
    removeStaleTemporaries(in: folder)
    let temporary = folder + "/.sskd-\(getpid())-\(UInt32.random(in: 0 ... .max)).tmp"
    func failure(_ step: WriteStep, _ code: Int32 = errno) -> StorageError {
        let prefix = step == .create ? "cannot create a temporary file in \(folder)" : step.rawValue
        return .writeFailed(path: path, reason: "\(prefix): \(String(cString: strerror(code)))", code: code)
    }
    /// Runs the step `ok` (unless a fault is injected for it, which then fails instead) and throws on failure.
    func check(_ step: WriteStep, _ ok: @autoclosure () -> Bool) throws {
        if let fault = injectedWriteFault, fault.step == step { throw failure(step, fault.errno) }
        guard ok() else { throw failure(step) }
    }
    let permissions = try replaceablePermissions(path)
    let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    try check(.create, fd >= 0)
    var closed = false
    defer {
        if !closed { close(fd) }
        unlink(temporary)  // after a successful rename the name is gone and this is a no-op
    }
    try bytes.withUnsafeBytes { buffer in
        var written = 0
        while written < buffer.count {
            let n = write(fd, buffer.baseAddress! + written, buffer.count - written)
            if n < 0 && errno == EINTR { continue }
            try check(.write, n > 0)
            written += n
        }
        if buffer.isEmpty { try check(.write, true) }
    }
    // The new file gets the old one's permission bits (0644 for a new file, as a umask of 022 gives).
    _ = fchmod(fd, permissions)
    try check(.fsync, fsync(fd) == 0)
    closed = true
    let closedOK = close(fd) == 0
    try check(.close, closedOK)
    try check(.rename, rename(temporary, path) == 0)
    let folderFD = open(folder, O_RDONLY | O_CLOEXEC)
    if folderFD >= 0 {
        _ = fsync(folderFD)  // best effort: makes the rename durable; not every file system allows it
        close(folderFD)
    }
}

/// Removes the temporary files (`.sskd-PID-N.tmp`) that sskd processes no longer running left in `folder`
/// (killed during a save); best effort, silent.
func removeStaleTemporaries(in folder: String) {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
    for name in entries where name.hasPrefix(".sskd-") && name.hasSuffix(".tmp") {
        let fields = name.dropFirst(6).dropLast(4).split(separator: "-")
        guard fields.count == 2, let pid = pid_t(fields[0]), pid > 0, pid != getpid() else { continue }
        if kill(pid, 0) != 0 && errno == ESRCH { unlink(folder + "/" + name) }
    }
}

/// The largest file `readFile` reads whole: half the machine's physical memory. A larger (or sparse) file is
/// refused before anything is allocated, instead of failing the allocation and aborting.
public var maximumReadBytes: Int { Int(clamping: ProcessInfo.processInfo.physicalMemory / 2) }

/// The whole content of the regular file at `path`.
/// - Throws: `StorageError.unreadable(path:reason:code:)` with the OS reason (`No such file or directory`,
///   `Permission denied`, ...) or `is a folder` / `not a regular file`.
public func readFile(_ path: String) throws -> [UInt8] {
    func failure() -> StorageError {
        let code = errno
        return .unreadable(path: path, reason: String(cString: strerror(code)), code: code)
    }
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)  // O_NONBLOCK: a FIFO is refused below, not waited on
    guard fd >= 0 else { throw failure() }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw failure() }
    switch info.st_mode & S_IFMT {
    case S_IFREG: break
    case S_IFDIR: throw StorageError.unreadable(path: path, reason: "is a folder", code: EISDIR)
    default: throw StorageError.unreadable(path: path, reason: "not a regular file", code: 0)
    }
    let limit = maximumReadBytes
    func tooLarge(_ size: Int) -> StorageError {
        .unreadable(
            path: path,
            reason: "\(size) bytes is more than the \(limit) this machine can read into memory "
                + "(half its physical memory)", code: EFBIG)
    }
    guard Int(info.st_size) <= limit else { throw tooLarge(Int(info.st_size)) }
    var bytes = [UInt8]()
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    bytes.reserveCapacity(Int(info.st_size))
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n >= 0 else { throw failure() }
        if n == 0 { return bytes }
        guard bytes.count + n <= limit else { throw tooLarge(bytes.count + n) }  // a file that grows while read
        bytes += chunk.prefix(n)
    }
}
