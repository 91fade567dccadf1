import Foundation
import TestSupport
import XCTest

@testable import Storage

/// Atomic writes (including injected faults), whole-file reads and the zip reader.
final class StorageTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-storage-\(UUID())").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        injectedWriteFault = nil
        try? FileManager.default.removeItem(atPath: folder)
    }

    func testWriteReplacesAndReadsBack() throws {
        let path = folder + "/a.bin"
        try atomicWrite([1, 2, 3] as [UInt8], to: path)
        try atomicWrite(Data([4, 5]), to: path)
        XCTAssertEqual(try readFile(path), [4, 5])
        try atomicWrite([UInt8](), to: path)
        XCTAssertEqual(try readFile(path), [])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), ["a.bin"])
    }

    /// A replaced file keeps its permission bits; a read-only file, or a path holding NUL, is refused and kept;
    /// a name of 255 bytes can be saved (the temporary name is short); a temporary file a killed process left is
    /// removed by the next save in its folder.
    func testModesNamesAndStaleTemporaries() throws {
        let secret = folder + "/secret.safetensors"
        try atomicWrite([1] as [UInt8], to: secret)
        chmod(secret, 0o600)
        try atomicWrite([2] as [UInt8], to: secret)
        var info = stat()
        stat(secret, &info)
        XCTAssertEqual(info.st_mode & 0o7777, 0o600)
        chmod(secret, 0o444)
        XCTAssertThrowsError(try atomicWrite([3] as [UInt8], to: secret)) {
            XCTAssertEqual(
                "\($0)",
                "cannot write \(secret): it is read-only (mode 444); make it writable to replace it"
                    + " (any previous file is unchanged)")
        }
        XCTAssertEqual(try readFile(secret), [2])
        XCTAssertThrowsError(try atomicWrite([3] as [UInt8], to: folder + "/a\u{0}b")) {
            XCTAssertTrue("\($0)".contains("the path holds a NUL character"), "\($0)")
        }
        let long = folder + "/" + String(repeating: "n", count: 255)
        try atomicWrite([4] as [UInt8], to: long)
        XCTAssertEqual(try readFile(long), [4])
        // A temporary file of a process that no longer runs (pid 2^22 + 7 is above Linux's pid_max default).
        let stale = folder + "/.sskd-4194311-42.tmp"
        _ = FileManager.default.createFile(atPath: stale, contents: Data([9]))
        try atomicWrite([5] as [UInt8], to: folder + "/other.bin")
        XCTAssertFalse(FileManager.default.fileExists(atPath: stale))
        chmod(secret, 0o644)
    }

    /// A full disk (ENOSPC injected at each step) keeps the old file and says so; no temporary file is left.
    func testFullDiskKeepsTheOldFile() throws {
        let path = folder + "/run.sskd"
        try atomicWrite(Array("old".utf8), to: path)
        for step in [WriteStep.write, .fsync, .close, .rename] {
            injectedWriteFault = (step, ENOSPC)
            XCTAssertThrowsError(try atomicWrite(Array("new and longer".utf8), to: path)) { error in
                XCTAssertEqual(
                    error as? StorageError,
                    .writeFailed(path: path, reason: "\(step.rawValue): No space left on device", code: ENOSPC))
                XCTAssertEqual(
                    "\(error)",
                    "cannot write \(path): \(step.rawValue): No space left on device (any previous file is unchanged)")
            }
            XCTAssertEqual(try readFile(path), Array("old".utf8))
            XCTAssertEqual(
                try FileManager.default.contentsOfDirectory(atPath: folder), ["run.sskd"],
                "temporary file left after \(step)")
        }
    }

    func testPermissionDeniedIsNamed() throws {
        injectedWriteFault = (.create, EACCES)
        XCTAssertThrowsError(try atomicWrite([1] as [UInt8], to: folder + "/x")) { error in
            XCTAssertEqual(
                "\(error)",
                "cannot write \(folder!)/x: cannot create a temporary file in \(folder!): Permission denied"
                    + " (any previous file is unchanged)")
        }
    }

    func testParentThatIsAFileFails() throws {
        let file = folder + "/plain"
        try atomicWrite([7] as [UInt8], to: file)
        XCTAssertThrowsError(try atomicWrite([1] as [UInt8], to: file + "/child")) { error in
            XCTAssertEqual(
                error as? StorageError,
                .writeFailed(
                    path: file + "/child",
                    reason: "cannot create a temporary file in \(file): Not a directory", code: ENOTDIR))
        }
        XCTAssertEqual(try readFile(file), [7])
        XCTAssertThrowsError(try readFile(file + "/child")) { error in
            XCTAssertEqual(
                error as? StorageError, .unreadable(path: file + "/child", reason: "Not a directory", code: ENOTDIR))
        }
    }

    func testReadErrorsNameTheFile() {
        XCTAssertThrowsError(try readFile(folder + "/missing")) { error in
            XCTAssertEqual("\(error)", "\(folder!)/missing: cannot read: No such file or directory")
        }
        XCTAssertThrowsError(try readFile(folder)) { error in
            XCTAssertEqual(error as? StorageError, .unreadable(path: folder, reason: "is a folder", code: EISDIR))
        }
        let fifo = folder + "/fifo"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        XCTAssertThrowsError(try readFile(fifo)) { error in  // refused at once, not waited on for a writer
            XCTAssertEqual(error as? StorageError, .unreadable(path: fifo, reason: "not a regular file", code: 0))
        }
    }

    func testZipReadsMembersAndChecksThem() throws {
        let bytes = TestFiles.zip([("a/x", [1, 2, 3]), ("a/y", [])], deflate: false)
        let archive = try ZipArchive(bytes, path: "t.zip")
        XCTAssertEqual(archive.names, ["a/x", "a/y"])
        XCTAssertEqual(try archive.read("a/x"), [1, 2, 3])
        XCTAssertEqual(try archive.read("a/y"), [])
        XCTAssertNil(try archive.read("a/z"))
        var corrupt = bytes
        corrupt[30 + 3 + 1] ^= 0xFF  // the second data byte of a/x
        XCTAssertThrowsError(try ZipArchive(corrupt, path: "t.zip").read("a/x")) { error in
            XCTAssertEqual("\(error)", "t.zip: bad zip archive: member a/x: CRC-32 mismatch (the file is corrupted)")
        }
        XCTAssertThrowsError(try ZipArchive(Array(bytes.prefix(40)), path: "t.zip")) { error in
            XCTAssertEqual(
                error as? StorageError,
                .truncatedZip(
                    path: "t.zip", reason: "no end-of-central-directory record (not a zip file, or cut short)"))
        }
        // An entry count of 65,534 in a 2-entry directory is refused before any entry is read.
        var many = bytes
        many[many.count - 12] = 0xFE
        many[many.count - 11] = 0xFF
        XCTAssertThrowsError(try ZipArchive(many, path: "t.zip")) { error in
            XCTAssertEqual("\(error)", "t.zip: bad zip archive: 65534 entries cannot fit in a 98-byte directory")
        }
    }

    /// Deflated members that would inflate past 256:1 (beyond 64 MiB), one big one or many small ones that
    /// repeat, are refused when the archive is opened, before anything is inflated.
    func testDecompressionBombsAreRefusedAtOpen() throws {
        let zeros = [UInt8](repeating: 0, count: (64 << 20) + 1)
        let one = TestFiles.zip([("data/0", zeros)], deflate: true)
        XCTAssertLessThan(one.count, 200_000)
        XCTAssertThrowsError(try ZipArchive(one, path: "bomb.pth")) { error in
            XCTAssertTrue(
                "\(error)".hasPrefix("bomb.pth: bad zip archive: its deflated members would inflate to 67108865 bytes"),
                "\(error)")
            XCTAssertTrue("\(error)".hasSuffix("more than 256:1 (a decompression bomb)"), "\(error)")
        }
        let small = [UInt8](repeating: 0, count: 1 << 20)
        let many = TestFiles.zip((0..<65).map { ("data/\($0)", small) }, deflate: true)
        XCTAssertThrowsError(try ZipArchive(many, path: "bomb.pth"))
        // Below the allowance, or compressible by less than 256:1, is read.
        let fine = TestFiles.zip((0..<63).map { ("data/\($0)", small) }, deflate: true)
        XCTAssertEqual(try ZipArchive(fine, path: "ok.pth").read("data/62"), small)
    }

    /// A FIFO, a device or a symbolic link at the target is refused, not replaced by a regular file.
    func testNonRegularTargetsAreRefusedAndKept() throws {
        let fifo = folder + "/pipe.npy"
        let link = folder + "/link.npy"
        XCTAssertEqual(mkfifo(fifo, 0o644), 0)
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: folder + "/elsewhere")
        for (path, kind) in [(fifo, "a FIFO"), (link, "a symbolic link"), ("/dev/null", "a device")] {
            XCTAssertThrowsError(try atomicWrite([1] as [UInt8], to: path)) {
                XCTAssertEqual(
                    "\($0)",
                    "cannot write \(path): it is \(kind); only a regular file is replaced "
                        + "(any previous file is unchanged)")
            }
        }
        var info = stat()
        XCTAssertEqual(lstat(fifo, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFIFO, "the FIFO is still a FIFO")
        XCTAssertEqual(lstat(link, &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFLNK, "the link is still a link")
        XCTAssertEqual(lstat("/dev/null", &info), 0)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFCHR)
    }

    /// Text quoted from files is escaped in messages; the lines and tabs of a multi-line report are kept.
    func testPrintableMessageKeepsLinesAndTabs() {
        XCTAssertEqual(
            printableMessage("Error(s):\n\tUnexpected key(s): \"a\u{1b}]0;T\u{7}\u{202e}b\""),
            "Error(s):\n\tUnexpected key(s): \"a\\u{1b}]0;T\\u{7}\\u{202e}b\"")
        XCTAssertEqual(printableMessage(String(repeating: "x", count: 5000)).count, 4003)
    }

    /// A (sparse) file larger than half the machine's memory is refused before any allocation, not aborted on.
    func testFileLargerThanMemoryIsRefused() throws {
        let path = folder + "/huge.pth"
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
        XCTAssertEqual(truncate(path, off_t(maximumReadBytes) + 1), 0)
        XCTAssertThrowsError(try readFile(path)) {
            XCTAssertEqual(
                "\($0)",
                "\(path): cannot read: \(maximumReadBytes + 1) bytes is more than the "
                    + "\(maximumReadBytes) this machine can read into memory (half its physical memory)")
        }
    }
}
