import Foundation

/// The repository's root folder, found from this file's path (`Tests/Support/Processes.swift`).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// `.venv/bin/NAME` in the repository: a tool of the PyTorch venv that `scripts/fixtures-venv` makes (`python`,
/// `torchrun`).
public func venvTool(_ name: String) -> URL { repositoryRoot.appendingPathComponent(".venv/bin/\(name)") }

/// Runs `executable` with `arguments` in `folder` (default: the current folder) and waits for it.
/// - Returns: its exit status and everything it wrote, standard output and error as one text.
/// - Throws: when the process cannot be started.
public func runMerged(_ executable: URL, _ arguments: [String], in folder: URL? = nil) throws -> (
    status: Int32, output: String
) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = folder }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, output)
}

/// Runs `executable` with `arguments` in `folder` (default: the current folder) and waits for it; with `stdin`, that
/// text is its standard input, then end of input.
/// - Returns: its standard output and standard error, read apart, and its exit status.
/// - Throws: when the process cannot be started.
public func runSeparate(_ executable: URL, _ arguments: [String], in folder: URL? = nil, stdin: String? = nil) throws
    -> (out: String, err: String, code: Int32)
{
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    if let folder { process.currentDirectoryURL = folder }
    let input = Pipe()
    if stdin != nil { process.standardInput = input }
    let (output, error) = (Pipe(), Pipe())
    process.standardOutput = output
    process.standardError = error
    try process.run()
    if let stdin {
        input.fileHandleForWriting.write(Data(stdin.utf8))
        try input.fileHandleForWriting.close()
    }
    let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let err = String(decoding: error.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (out, err, process.terminationStatus)
}

/// Validates the notebook at `url` with Jupyter's own validator (`nbformat.validate(nbformat.read(url))`, run by the
/// venv's python), which prints `valid MAJOR.MINOR CODE-CELLS-WITH-OUTPUTS PNG-IMAGES` when it passes.
/// - Returns: the exit status and what Python printed; nil when the venv or its nbformat is missing (the caller
///   skips, saying why).
/// - Throws: when python cannot be started.
public func validateWithNbformat(_ url: URL) throws -> (status: Int32, output: String)? {
    let python = venvTool("python")
    guard FileManager.default.isExecutableFile(atPath: python.path),
        try runMerged(python, ["-c", "import nbformat"]).status == 0
    else { return nil }
    return try runMerged(
        python,
        [
            "-c",
            """
            import sys, nbformat
            nb = nbformat.read(sys.argv[1], as_version=nbformat.NO_CONVERT)
            nbformat.validate(nb)
            code = [c for c in nb.cells if c.cell_type == "code"]
            images = sum(1 for c in code for o in c.outputs if "image/png" in o.get("data", {}))
            print("valid %d.%d %d %d" % (nb.nbformat, nb.nbformat_minor, sum(1 for c in code if c.outputs), images))
            """,
            url.path,
        ])
}
