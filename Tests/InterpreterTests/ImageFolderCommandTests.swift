import CImageCodecs
import Foundation
import XCTest

@testable import EngineCommands
@testable import Language

/// `data DIR` on an ImageFolder of PNG files written by the test (libpng's encoder in CImageCodecs): the notes and
/// splits it prints, `size=` and `test=`, and errors that keep the previous data current.
final class ImageFolderCommandTests: XCTestCase {
    private var root = ""

    override func setUpWithError() throws {
        root = NSTemporaryDirectory() + "sskd-imagefolder-" + UUID().uuidString + "/shapes"
        for split in ["train", "test"] {
            for (label, name) in ["circle", "square"].enumerated() {
                for i in 0..<3 {
                    // 4 x 4 RGB, one colour per class and image; one 2 x 2 image per class in train (resized by size=).
                    let side = split == "train" && i == 2 ? 2 : 4
                    let color: [UInt8] = [UInt8(60 * label + 10 * i), 128, 255]
                    try writePNG("\(split)/\(name)/\(i).png", (0..<side * side).flatMap { _ in color }, side: side)
                }
            }
        }
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: (root as NSString).deletingLastPathComponent)
    }

    private func writePNG(_ relative: String, _ pixels: [UInt8], side: Int) throws {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 128)
        let status = sskd_png_encode(pixels, UInt32(side), UInt32(side), 3, &out, &size, &message, message.count)
        defer { free(out) }
        guard status == 0, let out else { return XCTFail(String(cString: message)) }
        let path = root + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try Data(UnsafeBufferPointer(start: out, count: size)).write(to: URL(fileURLWithPath: path))
    }

    func testDataReadsAnImageFolderWithSizeAndKeepsDataOnErrors() throws {
        let sink = CaptureSink()
        let session = Session.withEngine(output: sink)
        XCTAssertEqual(session.run("data \"\(root)\"", name: "mixed"), .runtimeError)
        XCTAssertTrue(sink.lines.last?.contains("images differ in size") ?? false, sink.lines.joined(separator: "\n"))
        XCTAssertNil(session.workspace.data)

        XCTAssertEqual(session.run("d = data \"\(root)\" size=[4, 4] normalize=none\nprint d.classes", name: "ok"), .ok)
        let lines = sink.lines.suffix(7)
        XCTAssertEqual(
            Array(lines),
            [
                "shapes: ImageFolder of 2 classes: 6 images from \(root)/train, test 6 from \(root)/test; 12 PNG, 0 "
                    + "JPEG",
                "images [3, 4, 4] (RGB); 2 resized to [4, 4] (bilinear)",
                "shapes/train: 6 images [3, 4, 4], 2 classes (circle, square)",
                "shapes/val: 0 images (no validation split: per-epoch top-1 is measured on test, for monitoring only; "
                    + "val=N holds one out)",
                "shapes/test: 6 images",
                "normalize: none (pixels/255); augmentation: crop 1 + flip; seed 0",
                "[\"circle\", \"square\"]",
            ])
        let data = try XCTUnwrap(session.workspace.data)
        XCTAssertEqual(data.splits.train.image(5).prefix(2), [80 / 255, 80 / 255], "square/2.png upscaled, one colour")

        // Errors keep the current data: test= with a test folder, options for other data sets.
        let before = sink.lines.count
        XCTAssertEqual(session.run("data \"\(root)\" size=4 test=2", name: "test"), .runtimeError)
        XCTAssertEqual(session.run("data fashion-mnist size=4", name: "other"), .runtimeError)
        XCTAssertEqual(session.run("data \"\(root)\" size=[4, 0]", name: "zero"), .runtimeError)
        XCTAssertEqual(session.run("data \"\(root)\" path=\"x\"", name: "path"), .runtimeError)
        XCTAssertEqual(
            Array(sink.lines[before...]),
            [
                "error: 1:6: option test: 2 images to hold out, but \(root) has its own test split (\(root)/test); "
                    + "test= is for a folder without one",
                "error: 1:25: option 'size': only for an ImageFolder directory",
                "error: 1:\(root.count + 14): option 'size': expected N or [H, W] with whole numbers in 1...65536, "
                    + "got [4, 0]",
                "error: 1:\(root.count + 14): option 'path': not for an ImageFolder directory (the directory is the "
                    + "name)",
            ])
        XCTAssertTrue(session.workspace.data === data, "the previous data stays current")

        // A single split folder is one split, as torchvision's ImageFolder(root): all images train, no test split;
        // training runs without per-epoch numbers and evaluation says how to get a test split.
        XCTAssertEqual(
            session.run(
                "data \"\(root)/train\" size=4\nm = model cnn widths=[2]\ntrain m epochs=1",
                name: "single"), .ok, sink.text)
        XCTAssertEqual(session.workspace.data?.splits.train.count, 6)
        XCTAssertEqual(session.workspace.data?.splits.test.count, 0)
        XCTAssertTrue(
            sink.text.contains(
                "6 images from \(root)/train, test none (a single split: pass test=N to hold N "
                    + "out, or add a test/ folder)"), sink.text)
        XCTAssertEqual(session.run("eval m", name: "no-test"), .runtimeError)
        XCTAssertTrue(
            sink.lines.last?.hasSuffix(
                "the test split is empty (load data with a larger limit or val=N; a single "
                    + "ImageFolder split holds a test split out with test=N)") ?? false,
            sink.lines.last ?? "")

        // A single split folder with test=: a seeded class-balanced hold-out.
        XCTAssertEqual(session.run("data \"\(root)/train\" size=4 test=2 seed=1", name: "hold-out"), .ok)
        XCTAssertTrue(
            sink.text.contains(
                "shapes: ImageFolder of 2 classes: 6 images from \(root)/train, test 2 held "
                    + "out of them (class-balanced, seed 1)"), sink.text)
        XCTAssertEqual(session.workspace.data?.splits.test.classCounts, [1, 1])

        // A corrupt file is named; the data read before stays current.
        let current = session.workspace.data
        let cut = URL(fileURLWithPath: root + "/test/circle/0.png")
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0]).write(to: cut)
        XCTAssertEqual(session.run("data \"\(root)\" size=4", name: "corrupt"), .runtimeError)
        let message = "\(root)/test/circle/0.png: cannot read image: read beyond end of data"
        XCTAssertTrue(sink.lines.last?.hasSuffix(message) ?? false, sink.lines.last ?? "")
        XCTAssertTrue(session.workspace.data === current)
    }
}
