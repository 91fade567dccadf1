import Foundation
import TestSupport
import XCTest

@testable import EngineCommands
@testable import Language

/// Students trained and saved by sskd load strict into RepDistiller-style PyTorch models and give `predict`'s
/// logits: for resnet8, wrn-16-2 and vgg8, a session trains one epoch on a small Fashion-MNIST .npz (raw pixels),
/// `save`s safetensors and `predict`s the test images to .npy; then `scripts/repdistiller_models.py check` builds
/// the PyTorch model, `load_state_dict(safetensors.torch.load_file(...), strict=True)`, runs it in eval mode and
/// requires the largest logit difference to be at most 1e-4.
///
/// Needs PyTorch: skipped, with the reason printed, unless `.venv/bin/python` (scripts/fixtures-venv) imports
/// torch, numpy and safetensors; CI has no torch and skips it. Also needs dataset-fashion-mnist.
final class PyTorchRoundTripTests: XCTestCase {
    /// Runs `arguments` with the venv's python from the package root; returns the exit status and the output.
    func python(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try runMerged(venvTool("python"), arguments, in: packageRoot)
    }

    func testSavedStudentsLoadStrictIntoPyTorchWithPredictsLogits() throws {
        try skipUnlessFashionMNIST()
        let venv = packageRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: venv),
            try python(["-c", "import torch, numpy, safetensors"]).status == 0
        else {
            print(
                "PyTorchRoundTripTests: skipped: \(venv) with torch, numpy and safetensors is absent "
                    + "(scripts/fixtures-venv makes it)")
            throw XCTSkip("no .venv with torch, numpy and safetensors (scripts/fixtures-venv makes it)")
        }
        let dir = try makeTemporaryFolder("sskd-roundtrip")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data.npz").path
        let made = try python(["scripts/repdistiller_models.py", "data", data])
        XCTAssertEqual(made.status, 0, made.output)

        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("data \"\(data)\" normalize=none augment=false", name: "data"), .ok, sink.text)
        for arch in ["resnet8", "wrn-16-2", "vgg8"] {
            let weights = dir.appendingPathComponent("\(arch).safetensors").path
            let logits = dir.appendingPathComponent("\(arch).npy").path
            XCTAssertEqual(
                session.run(
                    """
                    s = model \(arch) seed=1
                    train s epochs=1 batch=64 lr=0.05
                    save s "\(weights)"
                    predict s to="\(logits)"
                    """, name: arch), .ok, sink.text)
            XCTAssertTrue(sink.lines.last?.hasPrefix("wrote 96 x 10 logits of s on test") == true, sink.text)
            let check = try python(["scripts/repdistiller_models.py", "check", arch, weights, data, logits])
            print(check.output, terminator: "")  // e.g. `vgg8: 96 x 10 logits, max abs diff 2.38e-06, ...`
            XCTAssertEqual(check.status, 0, "\(arch): \(check.output)")
            XCTAssertTrue(check.output.hasPrefix("\(arch): 96 x 10 logits, max abs diff"), check.output)
        }
    }
}
