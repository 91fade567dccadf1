import CImageCodecs
import Datasets
import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// The PyTorch venv the export tests run their Python in.
extension XCTestCase {
    /// Runs the venv's `tool` with `arguments` in `folder`; returns the exit status and the output (both streams).
    func venv(_ tool: String, _ arguments: [String], in folder: URL? = nil) throws -> (status: Int32, output: String) {
        try runMerged(venvTool(tool), arguments, in: folder ?? packageRoot)
    }

    /// Skips unless the venv and the data set are there; returns a fresh temporary folder (removed by the caller).
    func prerequisites() throws -> URL {
        try skipUnlessFashionMNIST()
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
        let dir = try makeTemporaryFolder("sskd-export")
        return dir
    }
}

/// `export MODEL to="FILE.py"` and `export session to="FILE.py"` checked in PyTorch: exported modules load sskd's
/// checkpoints strict and give `predict`'s logits within 1e-4 for every zoo family; an exported session runs under
/// `torchrun --nproc_per_node=2` on CPU (gloo), its mimic loss falls in every stage, and its checkpoint loads back
/// into sskd and evaluates.
///
/// Needs PyTorch: skipped, with the reason printed, unless `.venv/bin/python` (scripts/fixtures-venv) imports torch,
/// numpy and safetensors and `.venv/bin/torchrun` exists; CI has no torch and skips it. Also needs
/// dataset-fashion-mnist.
final class PyTorchExportTests: XCTestCase {
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

    /// For each architecture ARCH: builds DIR/ARCH.py's fresh model under torch.manual_seed(0) and prints, over its
    /// convolution weights of at least 512 values, the smallest and largest ratio of their standard deviation to that
    /// of sskd's fresh weights in DIR/ARCH.safetensors.
    static let initCheck = """
        import importlib.util, sys, torch
        from safetensors.torch import load_file
        folder = sys.argv[1]
        for arch in sys.argv[2:]:
            spec = importlib.util.spec_from_file_location(arch, f'{folder}/{arch}.py')
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            torch.manual_seed(0)
            fresh = module.build().state_dict()
            ours = load_file(f'{folder}/{arch}.safetensors')
            ratios = [float(fresh[k].std() / ours[k].std()) for k in ours
                      if ours[k].dim() == 4 and ours[k].numel() >= 512]
            print(f'{arch} conv std ratio {min(ratios):.3f} {max(ratios):.3f} over {len(ratios)}')
        """

    func testExportedModelsStartFromSSKDsInitialisation() throws {
        // The exported script's fresh student must be initialised as sskd's (kaiming-normal fan_out convolutions), or
        // the same recipe trains a different network in PyTorch (PyTorch's default conv init is 2.4 times smaller
        // for a 16-channel 3x3 layer).
        let dir = try prerequisites()
        defer { try? FileManager.default.removeItem(at: dir) }
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("data fashion-mnist limit=64 val=0 augment=false", name: "data"), .ok, sink.text)
        let archs = ["resnet8", "vgg8", "cnn", "wrn-16-2"]
        for arch in archs {
            XCTAssertEqual(
                session.run(
                    """
                    m = model \(arch) seed=1
                    save m "\(dir.path)/\(arch).safetensors"
                    export m to="\(dir.path)/\(arch).py"
                    """, name: arch), .ok, sink.text)
        }
        let result = try venv("python", ["-c", Self.initCheck, dir.path] + archs)
        print(result.output, terminator: "")
        XCTAssertEqual(result.status, 0, result.output)
        let lines = result.output.split(separator: "\n").map(String.init)
        for arch in archs {
            guard let line = lines.first(where: { $0.hasPrefix(arch + " conv std ratio ") }) else {
                return XCTFail("\(arch): no result in \(result.output)")
            }
            let fields = line.split(separator: " ").compactMap { Double($0) }
            XCTAssertEqual(fields.count, 3, line)
            XCTAssertGreaterThan(fields[2], 0, line)  // some convolutions were compared
            XCTAssertGreaterThanOrEqual(fields[0], 0.85, line)
            XCTAssertLessThanOrEqual(fields[1], 1.15, line)
        }
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
        for option in [
            "--data", "--root", "--limit", "--teacher", "--out", "--batch", "--baselines", "--flip", "--sync-bn",
        ] {
            XCTAssertTrue(help.output.contains(option), "\(option) missing from --help: \(help.output)")
        }

        let out = dir.appendingPathComponent("student.safetensors").path
        let started = Date()
        let run = try venv(
            "torchrun",
            ["--nproc_per_node=2", script, "--threads", "1", "--log-every", "4", "--batch", "33", "--out", out], in: dir
        )
        print("torchrun --nproc_per_node=2: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(run.output.contains("16 steps (1 epochs of 16 batches of 16 x 2 processes)"), run.output)
        // --batch 33 on 2 processes: 16 each, and a warning that the global batch is 32.
        XCTAssertTrue(
            run.output.contains(
                "[mimic stage 1] warning: the global batch 33 is not a multiple of 2 processes: each takes 16, 32 "
                    + "images per step"), run.output)
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

/// The exported session script's data and checkpoint readers and its up-front checks, run in PyTorch (same venv as
/// `PyTorchExportTests`): a grayscale ImageFolder (with an image resized) gives sskd's `predict` logits, sskd's
/// bilinear resize, the PyTorch checkpoints sskd loads (DataParallel, `model` entry, legacy, plain, safetensors),
/// Fashion-MNIST's default folder, class names and full-split normalisation, clear errors for data of another shape,
/// an unwritable `--out`, a missing .npz or a file that holds no state dict, and sskd's file permissions.
final class PyTorchExportScriptTests: XCTestCase {
    /// Imports the exported script FILE (argv 2) as a module and checks its functions; argv 1 is the test's folder,
    /// argv 3 the interop fixtures. Prints one line per check.
    static let check = #"""
        import argparse, importlib.util, json, os, subprocess, sys, time
        import numpy as np, torch
        torch.set_num_threads(1)
        folder, script, fixtures = sys.argv[1:4]
        spec = importlib.util.spec_from_file_location('recipe', script)
        r = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(r)
        def args(**kw):
            base = dict(data=None, root=None, seed=r.RECIPE['data']['seed'], val=None, limit=None, normalize=None)
            base.update(kw)
            return argparse.Namespace(**base)
        def stop(f, *a):
            try:
                f(*a)
            except SystemExit as e:
                return str(e)
            return 'no error'
        class Rank0:
            rank, args = 0, argparse.Namespace(seed=0)
            def mean(self, v):
                return v
        config = r.RECIPE['teacher']['config']
        try:
            import PIL
            train, val, test, facts = r.load_data(args())
            teacher = r.build_model(config)
            r.load_weights(teacher, r.RECIPE['teacher']['file'], 'cpu', 'teacher', 'resnet8')
            teacher.eval()
            with torch.no_grad():
                diff = float(np.abs(teacher(test[0]).numpy() - np.load(f'{folder}/t.npy')).max())
            print(f'imagefolder {facts["input_shape"]} {len(train[1])} train {len(test[1])} test '
                  f'{facts["class_names"]} max abs diff {diff:.3g}')
        except ImportError:
            print('imagefolder skipped: no Pillow in the venv')
        resize = json.load(open(f'{folder}/resize.json'))
        x = np.asarray(resize['input'], dtype=np.uint8).reshape(5, 7, 1)
        ours = r.resize_bilinear(x, 8, 3).reshape(-1).tolist()
        print('resize', 'equal' if ours == resize['output'] else f'differs: {ours} {resize["output"]}')
        xtr, _, xte, _, _ = r.read_mnist('/usr/share/datasets/fashion-mnist', 'fashion-mnist')
        images = torch.from_numpy(xte[:200].astype(np.float32) / 255)
        expected = json.load(open(f'{fixtures}/resnet8.json'))['predictions'][:200]
        for name in ('resnet8-dataparallel.pth', 'resnet8-model.pth', 'resnet8-legacy.pth', 'resnet8-plain.pth',
                     'resnet8.safetensors'):
            state = r.read_state_dict(f'{fixtures}/{name}', 'cpu')
            fitted = r.fitted_config(config, state=state)
            model = r.build_model(fitted)
            r.load_weights(model, name, 'cpu', 'teacher', 'resnet8', state)
            model.eval()
            with torch.no_grad():
                agree = int((model(images).argmax(1) == torch.tensor(expected)).sum())
            print(f'checkpoint {name} channels {fitted["channels"]} classes {fitted["classes"]} agree {agree}/200')
        train, val, test, facts = r.load_data(args(data='fashion-mnist', limit=100))
        print(f'fashion-mnist {len(train[1])} {facts["class_names"][:2]} mean {facts["mean"][0]:.4f} '
              f'std {facts["std"][0]:.4f}')
        torch.save([1, 2], f'{folder}/list.pth')
        print('no state dict:', stop(r.read_state_dict, f'{folder}/list.pth', 'cpu'))
        print('missing checkpoint:', stop(r.read_state_dict, f'{folder}/none.pth', 'cpu'))
        print('missing npz:', stop(r.read_npz, f'{folder}/none.npz'))
        print('shape:', stop(r.check_fits, 'teacher', dict(config, classes=10), {'input_shape': [3, 32, 32],
                                                                              'classes': 100}, 'ADVICE'))
        print('out folder:', stop(r.check_output, Rank0(), [f'{folder}/no-such/s.safetensors']))
        print('out is a folder:', stop(r.check_output, Rank0(), [folder + '/']))
        print('out ok:', stop(r.check_output, Rank0(), [f'{folder}/s.safetensors']))
        student = r.RECIPE['student']
        r.save_student(Rank0(), r.build_model(student['config']), student, set(), facts, f'{folder}/p.safetensors')
        print(f'mode {os.stat(folder + "/p.safetensors").st_mode & 0o777:o} umask {r.UMASK:o}')
        np.savez(f'{folder}/rgb.npz', x_train=np.zeros((8, 12, 12, 3), np.uint8), y_train=np.arange(8) % 4,
                 x_test=np.zeros((4, 12, 12, 3), np.uint8), y_test=np.arange(4))
        for extra in (['--data', f'{folder}/rgb.npz'], ['--out', f'{folder}/no-such/s.safetensors'], ['--sync-bn']):
            started = time.time()
            run = subprocess.run([sys.executable, script, '--threads', '1'] + extra, capture_output=True, text=True)
            print(f'run {extra[0]}: status {run.returncode} in {time.time() - started:.1f}s: '
                  + (run.stdout + run.stderr).strip().split('\n')[-1])
        """#

    func testExportedScriptReadsDataAndCheckpointsAsSSKDAndChecksFirst() throws {
        let dir = try prerequisites()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A grayscale ImageFolder: 2 classes, 4 + 2 images each of 8 x 8 (one 6 x 6 in train, resized by size=).
        for split in ["train", "test"] {
            for (label, name) in ["dark", "light"].enumerated() {
                for i in 0..<(split == "train" ? 4 : 2) {
                    let side = split == "train" && i == 3 ? 6 : 8
                    let pixels = (0..<side * side).map { UInt8((label * 120 + $0 * 7 + i * 13) % 256) }
                    try writePNG(dir.appendingPathComponent("gray/\(split)/\(name)/\(i).png"), pixels, side: side)
                }
            }
        }
        let input = (0..<35).map { UInt8($0 * 7 % 256) }
        let output = DatasetLoader.resizeBilinear(input, height: 5, width: 7, channels: 1, toHeight: 8, toWidth: 3)
        try JSONSerialization.data(withJSONObject: ["input": input.map(Int.init), "output": output.map(Int.init)])
            .write(to: dir.appendingPathComponent("resize.json"))
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(
            session.run(
                """
                data "\(dir.path)/gray" size=[8, 8]
                t = model resnet8 channels=1 classes=2 seed=1
                train t steps=2 batch=4
                s = model resnet8 channels=1 classes=2 seed=2
                mimic s.stage[1] t.stage[1] steps=1 batch=4
                predict t to="\(dir.path)/t.npy"
                export session to="\(dir.path)/g.py"
                """, name: "gray"), .ok, sink.text)
        let fixtures = packageRoot.appendingPathComponent("Tests/DistillationTests/Fixtures/interop").path
        let started = Date()
        let result = try venv(
            "python", ["-c", Self.check, dir.path, dir.appendingPathComponent("g.py").path, fixtures], in: dir)
        print(result.output, terminator: "")
        print("PyTorchExportScriptTests: \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
        XCTAssertEqual(result.status, 0, result.output)
        let lines = result.output.split(separator: "\n").map(String.init)
        func line(_ prefix: String) -> String { lines.first { $0.hasPrefix(prefix) } ?? "no line \(prefix)" }
        let imageFolder = line("imagefolder")
        if !imageFolder.contains("skipped") {
            XCTAssertTrue(imageFolder.hasPrefix("imagefolder [1, 8, 8] 8 train 4 test ['dark', 'light']"), imageFolder)
            let diff = imageFolder.components(separatedBy: "max abs diff ").last.flatMap(Double.init) ?? .infinity
            XCTAssertLessThanOrEqual(diff, 1e-4, imageFolder)
        }
        XCTAssertEqual(line("resize"), "resize equal")
        for name in ["resnet8-dataparallel.pth", "resnet8-model.pth", "resnet8-legacy.pth", "resnet8-plain.pth"] {
            XCTAssertEqual(line("checkpoint \(name)"), "checkpoint \(name) channels 1 classes 10 agree 200/200")
        }
        XCTAssertEqual(
            line("checkpoint resnet8.safetensors"), "checkpoint resnet8.safetensors channels 1 classes 10 agree 200/200"
        )
        XCTAssertEqual(line("fashion-mnist"), "fashion-mnist 100 ['T-shirt/top', 'Trouser'] mean 0.2860 std 0.3530")
        XCTAssertTrue(
            line("no state dict:").hasSuffix(
                "list.pth' holds no state dict (a dict of tensors, or one "
                    + "under state_dict/model/model_state_dict/net)"), line("no state dict:"))
        XCTAssertTrue(line("missing checkpoint:").hasSuffix("none.pth': no such checkpoint file"), result.output)
        XCTAssertTrue(line("missing npz:").hasSuffix("none.npz': no such file (the .npz of the data)"), result.output)
        XCTAssertEqual(
            line("shape:"),
            "shape: error: the teacher has 1 input channel(s) where the data has 3 and 10 classes where the data has "
                + "100: ADVICE")
        XCTAssertTrue(line("out folder:").hasSuffix("/no-such' does not exist"), line("out folder:"))
        XCTAssertTrue(line("out is a folder:").contains("is a folder: give a file name"), line("out is a folder:"))
        XCTAssertEqual(line("out ok:"), "out ok: no error")
        let umask = line("mode").components(separatedBy: "umask ").last.flatMap { Int($0, radix: 8) } ?? 0
        XCTAssertEqual(line("mode"), "mode \(String(0o644 & ~umask, radix: 8)) umask \(String(umask, radix: 8))")
        let data = line("run --data")
        XCTAssertTrue(data.hasPrefix("run --data: status 1"), data)
        XCTAssertTrue(
            data.hasSuffix(
                "has 1 input channel(s) where the data has 3 and 2 classes where the data has 4: give --teacher a "
                    + "checkpoint trained on data of this shape (or --data of the teacher's)"), data)
        let out = line("run --out")
        XCTAssertTrue(out.hasPrefix("run --out: status 1"), out)
        XCTAssertTrue(out.hasSuffix("/no-such' does not exist"), out)
        let syncBN = line("run --sync-bn")
        XCTAssertTrue(syncBN.hasPrefix("run --sync-bn: status 1"), syncBN)
        XCTAssertTrue(
            syncBN.hasSuffix("error: --sync-bn needs GPUs (PyTorch's SyncBatchNorm does not run on the CPU)"), syncBN)
    }

    /// Writes a gray PNG of `side` x `side` pixels with libpng (CImageCodecs), creating its folders.
    private func writePNG(_ url: URL, _ pixels: [UInt8], side: Int) throws {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 128)
        let status = sskd_png_encode(pixels, UInt32(side), UInt32(side), 1, &out, &size, &message, message.count)
        defer { free(out) }
        guard status == 0, let out else { return XCTFail(String(cString: message)) }
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(UnsafeBufferPointer(start: out, count: size)).write(to: url)
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

    /// The script loads the teacher's checkpoint only while it holds the weights the student learned from: a teacher
    /// trained after `load` and before the student's first run is written beside the script instead, and one trained
    /// after that run gets a warning naming the run.
    func testSessionRecipeUsesTheTeachersFileOnlyWhenItHoldsTheDistilledWeights() throws {
        try skipUnlessFashionMNIST()
        let dir = try makeTemporaryFolder("sskd-export")
        defer { try? FileManager.default.removeItem(at: dir) }
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        let file = dir.appendingPathComponent("t.safetensors").path
        XCTAssertEqual(
            session.run(
                """
                data fashion-mnist limit=64 val=16
                t0 = model resnet8 seed=1
                save t0 "\(file)"
                t = load "\(file)"
                s = model resnet8 seed=2
                mimic s.stage[1] t.stage[1] steps=1 batch=16
                export session to="\(dir.path)/a.py"
                """, name: "file"), .ok, sink.text)
        let a = try String(contentsOf: dir.appendingPathComponent("a.py"), encoding: .utf8)
        XCTAssertTrue(a.contains("\"file\": \"\(file)\""), a)
        XCTAssertFalse(sink.text.contains("warning: the teacher"), sink.text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.appendingPathComponent("a-teacher.safetensors").path))
        XCTAssertEqual(
            session.run("train t steps=1 batch=16 force=true\nexport session to=\"\(dir.path)/a2.py\"", name: "t"),
            .ok, sink.text)
        XCTAssertTrue(
            sink.lines.contains(
                "warning: the teacher t was trained after s first learned from it (1 run from 'train t steps=1 "
                    + "batch=16 force=true'): the script loads \(file), the checkpoint t was loaded from: check that "
                    + "it was not saved over since; give it --teacher FILE with the teacher's weights of the "
                    + "distillation"), sink.text)

        let mark = sink.lines.count
        XCTAssertEqual(
            session.run(
                """
                t2 = load "\(file)"
                train t2 steps=1 batch=16 force=true
                s2 = model resnet8 seed=3
                mimic s2.stage[1] t2.stage[1] steps=1 batch=16
                export session to="\(dir.path)/b.py"
                """, name: "trained before"), .ok, sink.text)
        let b = try String(contentsOf: dir.appendingPathComponent("b.py"), encoding: .utf8)
        XCTAssertTrue(b.contains("\"file\": \"\(dir.path)/b-teacher.safetensors\""), b)
        XCTAssertTrue(sink.text.contains("saved resnet8 to \(dir.path)/b-teacher.safetensors"), sink.text)
        XCTAssertFalse(sink.lines[mark...].contains { $0.hasPrefix("warning: the teacher") }, sink.text)

        XCTAssertEqual(
            session.run("train t2 steps=1 batch=16 force=true\nexport session to=\"\(dir.path)/c.py\"", name: "after"),
            .ok, sink.text)
        XCTAssertTrue(
            sink.lines.contains(
                "warning: the teacher t2 was trained after s2 first learned from it (1 run from 'train t2 steps=1 "
                    + "batch=16 force=true'): the script writes t2's current weights to \(dir.path)/c-teacher"
                    + ".safetensors, not those s2 distilled from; give it --teacher FILE with the teacher's weights "
                    + "of the distillation"), sink.text)
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
