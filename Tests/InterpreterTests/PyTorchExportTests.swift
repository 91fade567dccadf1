import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// `export MODEL to="FILE.py"` and `export session to="FILE.py"` checked in PyTorch: exported modules load sskd's
/// checkpoints strict and give `predict`'s logits within 1e-4 for every zoo family; an exported session runs under
/// `torchrun --nproc_per_node=2` on CPU (gloo), its mimic loss falls in every stage, and its checkpoint loads back
/// into sskd and evaluates.
///
/// Needs PyTorch: skipped, with the reason printed, unless `.venv/bin/python` (scripts/fixtures-venv) imports torch,
/// numpy and safetensors and `.venv/bin/torchrun` exists; CI has no torch and skips it. Also needs
/// dataset-fashion-mnist.
final class PyTorchExportTests: XCTestCase {
    /// Runs the venv's `tool` with `arguments` in `folder`; returns the exit status and the output (both streams).
    func venv(_ tool: String, _ arguments: [String], in folder: URL? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = packageRoot.appendingPathComponent(".venv/bin/\(tool)")
        process.arguments = arguments
        process.currentDirectoryURL = folder ?? packageRoot
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Skips unless the venv and the data set are there; returns a fresh temporary folder (removed by the caller).
    func prerequisites() throws -> URL {
        try XCTSkipUnless(
            FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"),
            "dataset-fashion-mnist is not installed")
        let python = packageRoot.appendingPathComponent(".venv/bin/python").path
        let torchrun = packageRoot.appendingPathComponent(".venv/bin/torchrun").path
        guard FileManager.default.isExecutableFile(atPath: python),
            FileManager.default.isExecutableFile(atPath: torchrun),
            try venv("python", ["-c", "import torch, numpy, safetensors"]).status == 0
        else {
            print(
                "PyTorchExportTests: skipped: \(python) with torch, numpy and safetensors (and torchrun) is absent "
                    + "(scripts/fixtures-venv makes it)")
            throw XCTSkip("no .venv with torch, numpy, safetensors and torchrun (scripts/fixtures-venv makes it)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// For each architecture ARCH: imports DIR/ARCH.py, `load`s DIR/ARCH.safetensors, runs `normalize(x_test)` of
    /// DIR/data.npz through it and prints `ARCH max abs diff D` against DIR/ARCH.npy (sskd's `predict`), plus the
    /// shapes of its stage features.
    static let check = """
        import importlib.util, sys, numpy as np, torch
        torch.set_num_threads(1)
        folder = sys.argv[1]
        x = torch.from_numpy(np.load(f'{folder}/data.npz')['x_test'][:, None])
        for arch in sys.argv[2:]:
            spec = importlib.util.spec_from_file_location(arch, f'{folder}/{arch}.py')
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            model = module.load(f'{folder}/{arch}.safetensors')
            with torch.no_grad():
                logits = model(module.normalize(x)).numpy()
                stages = [list(f.shape) for f in module.stage_features(model, module.normalize(x[:2]))]
            diff = float(np.abs(logits - np.load(f'{folder}/{arch}.npy')).max())
            print(f'{arch} {module.STAGES} {stages} max abs diff {diff:.3g}')
        """

    func testExportedModelsLoadSSKDCheckpointsAndGivePredictsLogits() throws {
        let dir = try prerequisites()
        defer { try? FileManager.default.removeItem(at: dir) }
        let made = try venv(
            "python", ["scripts/repdistiller_models.py", "data", dir.appendingPathComponent("data.npz").path])
        XCTAssertEqual(made.status, 0, made.output)
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        // Computed normalisation: the exported NORMALIZE_MEAN/STD must be the ones predict used.
        XCTAssertEqual(session.run("data \"\(dir.path)/data.npz\" augment=false", name: "data"), .ok, sink.text)
        let archs = ["resnet8", "wrn-16-2", "vgg8", "mlp", "cnn", "resnet18", "resnet8x4"]
        for arch in archs {
            XCTAssertEqual(
                session.run(
                    """
                    m = model \(arch) seed=1
                    train m steps=2 batch=32 lr=0.01
                    save m "\(dir.path)/\(arch).safetensors"
                    predict m to="\(dir.path)/\(arch).npy"
                    export m to="\(dir.path)/\(arch).py"
                    """, name: arch), .ok, sink.text)
            XCTAssertTrue(sink.lines.last?.hasPrefix("wrote \(arch) as a PyTorch module to") == true, sink.text)
        }
        let result = try venv("python", ["-c", Self.check, dir.path] + archs)
        // e.g. `resnet8 ['layer1', 'layer2', 'layer3'] [[2, 16, 28, 28], ...] max abs diff 1.79e-07`
        print(result.output, terminator: "")
        XCTAssertEqual(result.status, 0, result.output)
        let lines = result.output.split(separator: "\n").map(String.init)
        for arch in archs {
            guard let line = lines.first(where: { $0.hasPrefix(arch + " ") }),
                let diff = line.components(separatedBy: "max abs diff ").last.flatMap(Double.init)
            else { return XCTFail("\(arch): no result in \(result.output)") }
            XCTAssertLessThanOrEqual(diff, 1e-4, line)
        }
        XCTAssertTrue(lines.contains { $0.hasPrefix("resnet8 ['layer1', 'layer2', 'layer3'] [[2, 16, 28, 28]") })
        XCTAssertTrue(lines.contains { $0.hasPrefix("vgg8 ['block0', 'block1', 'block2', 'block3', 'block4']") })
    }

    func testExportedSessionRunsUnderTorchrunAndItsStudentLoadsBack() throws {
        let dir = try prerequisites()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let script = dir.appendingPathComponent("recipe.py").path
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist limit=512 val=128
                t = model resnet8 seed=1
                train t epochs=2 batch=32 lr=0.05
                s = model resnet8 seed=2
                sskd s t stage_epochs=1 head_epochs=1 batch=32 finetune=1
                export session to="\(script)"
                """, name: "session"), .ok, sink.text)
        // The teacher was trained in the session: export writes it beside the script.
        XCTAssertTrue(sink.text.contains("saved resnet8 to \(dir.path)/recipe-teacher.safetensors"), sink.text)
        XCTAssertEqual(
            sink.lines.last,
            "wrote the SSKD recipe of s (5 runs) to \(script); run it with python recipe.py or torchrun "
                + "--nproc_per_node=N recipe.py")
        let help = try venv("python", [script, "--help"])
        XCTAssertEqual(help.status, 0, help.output)
        for option in ["--data", "--root", "--limit", "--teacher", "--out", "--batch", "--baselines"] {
            XCTAssertTrue(help.output.contains(option), "\(option) missing from --help: \(help.output)")
        }

        let out = dir.appendingPathComponent("student.safetensors").path
        let started = Date()
        let run = try venv(
            "torchrun", ["--nproc_per_node=2", script, "--threads", "1", "--log-every", "4", "--out", out], in: dir)
        print("torchrun --nproc_per_node=2: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("16 steps (1 epochs of 16 batches of 16 x 2 processes)"), run.output)
        for stage in 1...3 {
            let losses = run.output.split(separator: "\n").filter { $0.hasPrefix("[mimic stage \(stage)] step ") }
                .compactMap { line in line.components(separatedBy: " loss ").last?.split(separator: " ").first }
                .compactMap { Double($0) }
            print("mimic stage \(stage) loss per 4 steps: \(losses)")
            XCTAssertEqual(losses.count, 4, run.output)
            XCTAssertLessThan(losses.last ?? .infinity, losses.first ?? 0, "stage \(stage): \(losses)")
        }
        XCTAssertTrue(run.output.contains("[head] epoch 1: train loss"), run.output)
        XCTAssertTrue(run.output.contains("[finetune] epoch 1: train loss"), run.output)

        XCTAssertEqual(session.run("x = load \"\(out)\"\neval x", name: "back"), .ok, sink.text)
        XCTAssertTrue(
            sink.text.contains("loaded resnet8 from \(out): 77,754 parameters, recorded top-1"), sink.text)
        XCTAssertFalse(sink.text.contains("class names differ"), sink.text)
        XCTAssertTrue(sink.lines.contains { $0.hasPrefix("x test: top-1 ") && $0.hasSuffix("(512 images)") }, sink.text)
    }
}

/// The generated Python text without PyTorch: literals escape what files bring in, templates fill in one pass, and
/// the constants of an exported model file follow the model (its split, its recorded normalisation).
final class PyTorchExportTextTests: XCTestCase {
    func testLiteralsEscapeQuotesControlAndNonASCIICharacters() {
        XCTAssertEqual(PythonLiteral.string("a\"b\\c\nd'é𝄞").text(), #""a\"b\\c\nd'\u00e9\U0001d11e""#)
        XCTAssertEqual(PythonLiteral.doubles([0.5, 1, .nan]).text(), "[0.5, 1.0, float('nan')]")
        XCTAssertEqual(
            PythonLiteral.dict([("a", .bool(true)), ("b", .none), ("c", .ints([1, 2]))]).text(),
            #"{"a": True, "b": None, "c": [1, 2]}"#)
        XCTAssertEqual(
            PythonLiteral.dict([("runs", .list([.dict([("lr", .double(0.01))])]))]).text(indent: 4),
            "{\n    \"runs\": [\n        {\n            \"lr\": 0.01,\n        },\n    ],\n}")
    }

    func testTemplatesFillInOnePass() {
        let template = PythonTemplate(text: "A = {{A}}\nB = {{B}}\n")
        XCTAssertEqual(template.filled(["A": "\"{{B}}\"", "B": "2"]), "A = \"{{B}}\"\nB = 2\n")
    }

    func testModelFileFollowsTheSplitAndTheRecordedNormalisation() throws {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sskd-export-\(UUID().uuidString).py")
        defer { try? FileManager.default.removeItem(at: path) }
        XCTAssertEqual(
            session.run(
                """
                m = model vgg8 channels=3 classes=7
                split m block1 block3
                export m to="\(path.path)"
                """, name: "vgg"), .ok, sink.text)
        let text = try String(contentsOf: path, encoding: .utf8)
        XCTAssertTrue(text.contains("\nARCHITECTURE = \"vgg8\"\n"), text)
        XCTAssertTrue(
            text.contains(
                "\nCONFIG = {\"family\": \"vgg\", \"channels\": 3, \"classes\": 7, "
                    + "\"cfg\": [[64], [128], [256], [512], [512]]}\n"), text)
        XCTAssertTrue(text.contains("\nSTAGES = [\"block1\", \"block3\", \"block4\"]\n"), text)
        // No data and nothing recorded: the normalisation is unknown, and normalize() says so.
        XCTAssertTrue(text.contains("\nNORMALIZE_MEAN = None\n"), text)
        XCTAssertTrue(text.contains("\nINPUT_SHAPE = [3, 32, 32]\n"), text)
        XCTAssertFalse(text.contains("{{"), "unfilled placeholder")
    }
}
