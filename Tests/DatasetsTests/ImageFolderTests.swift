import CImageCodecs
import CZlib
import Foundation
import TestSupport
import XCTest

@testable import Datasets

/// Writers of PNG and JPEG files (through libpng's and libjpeg's encoders in CImageCodecs) into ImageFolder trees.
extension Fixtures {
    /// PNG bytes of `pixels`, `[height, width, channels]` interleaved (1 G, 2 GA, 3 RGB, 4 RGBA).
    static func png(_ pixels: [UInt8], width: Int, height: Int, channels: Int) throws -> [UInt8] {
        try encoded { sskd_png_encode(pixels, UInt32(width), UInt32(height), Int32(channels), $0, $1, $2, $3) }
    }

    /// JPEG bytes of `pixels`, `[height, width, channels]` interleaved (1 gray or 3 RGB), at `quality`; baseline, or
    /// progressive with `progressiveScans` scans (gray only, at most 704).
    static func jpeg(
        _ pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 95, progressiveScans: Int = 0
    ) throws -> [UInt8] {
        try encoded {
            sskd_jpeg_encode(
                pixels, UInt32(width), UInt32(height), Int32(channels), Int32(quality), Int32(progressiveScans), $0, $1,
                $2, $3)
        }
    }

    private static func encoded(
        _ call: (
            UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int>,
            UnsafeMutablePointer<CChar>, Int
        ) -> Int32
    ) throws -> [UInt8] {
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { call(&out, &size, $0.baseAddress!, $0.count) }
        defer { free(out) }
        guard status == 0, let out else {
            throw DatasetError.badImage(path: "encoder", reason: String(cString: message))
        }
        return Array(UnsafeBufferPointer(start: out, count: size))
    }

    /// Writes `bytes` to `dir/relative`, creating the folders on the way; returns the path.
    @discardableResult
    func put(_ relative: String, _ bytes: [UInt8]) throws -> String {
        let path = dir + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (path as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A flat `[h, w, c]` image of one colour.
    static func flat(_ color: [UInt8], width: Int, height: Int) -> [UInt8] {
        (0..<width * height).flatMap { _ in color }
    }
}

final class ImageFolderTests: XCTestCase {
    /// RGB 2 x 3 pixels (rows top to bottom), interleaved.
    let rgb: [UInt8] = [
        10, 20, 30, 40, 50, 60, 70, 80, 90,
        100, 110, 120, 130, 140, 150, 255, 0, 128,
    ]

    func testSplitFoldersInTorchvisionClassOrderWithExactPNGPixels() throws {
        let f = try Fixtures()
        let png = try Fixtures.png(rgb, width: 3, height: 2, channels: 3)
        let gray = try Fixtures.png([0, 51, 102, 153, 204, 255], width: 3, height: 2, channels: 1)
        for split in ["train", "test"] {
            try f.put("\(split)/cat/a.png", png)
            try f.put("\(split)/dog/b.PNG", gray)
            try f.put("\(split)/Bird/c.png", png)
        }
        try f.put("train/cat/more/d.png", gray)  // files below a class folder belong to it (os.walk)
        try f.put("train/cat/.hidden.png", [1, 2, 3])  // hidden: skipped, never decoded
        try f.put("train/cat/notes.txt", Array("hi".utf8))
        try f.put("train/dog/e.bmp", [0])
        try f.put("train/.ipynb_checkpoints/x.png", png)  // a hidden folder is no class
        let data = try DatasetLoader.imageFolder(f.dir)
        let (train, test) = (data.train, data.test)
        XCTAssertEqual(train.classNames, ["Bird", "cat", "dog"], "sorted by code point: uppercase first")
        XCTAssertEqual(train.labels, [0, 1, 1, 2])
        XCTAssertEqual(test.labels, [0, 1, 2])
        XCTAssertEqual(train.imageShape, [3, 2, 3], "RGB because some images are colour")
        XCTAssertEqual(train.name, URL(fileURLWithPath: f.dir).lastPathComponent + "/train")
        guard case .uint8(let pixels) = train.pixels else { return XCTFail("uint8 pixels") }
        // Image 0 (Bird/c.png) in CHW: the red plane, then green, then blue.
        XCTAssertEqual(
            Array(pixels[0..<18]),
            [10, 40, 70, 100, 130, 255, 20, 50, 80, 110, 140, 0, 30, 60, 90, 120, 150, 128])
        // Image 2 (cat/more/d.png, gray): the same plane three times.
        XCTAssertEqual(Array(pixels[36..<54]), Array(repeating: [0, 51, 102, 153, 204, 255], count: 3).flatMap { $0 })
        XCTAssertEqual(train.image(0)[5], 1.0)
        XCTAssertEqual(train.image(0)[0], 10 / 255)
        XCTAssertEqual(data.notes.count, 3, "\(data.notes)")
        XCTAssertTrue(data.notes[0].contains("3 classes: 4 images from"), data.notes[0])
        XCTAssertTrue(data.notes[0].hasSuffix("test 3 from \(f.dir)/test; 7 PNG, 0 JPEG"), data.notes[0])
        XCTAssertEqual(data.notes[1], "images [3, 2, 3] (RGB; gray ones expanded)")
        XCTAssertEqual(
            data.notes[2],
            "skipped 3 files: 1 .ppm/.bmp/.pgm/.tif/.tiff/.webp (only PNG and JPEG are "
                + "read), 1 hidden, 1 not .png/.jpg/.jpeg")
        let splits = try DataSplits(train: train, test: test, config: DataConfig(normalization: .none))
        XCTAssertEqual(splits.train.count, 4)
    }

    func testAllGrayStaysOneChannelAndAlphaIsDropped() throws {
        let f = try Fixtures()
        try f.put("train/a/1.png", try Fixtures.png([7, 255, 9, 0], width: 2, height: 1, channels: 2))  // gray + alpha
        try f.put("train/b/2.png", try Fixtures.png([1, 2], width: 2, height: 1, channels: 1))
        try f.put("val/a/3.png", try Fixtures.png([3, 4], width: 2, height: 1, channels: 1))
        try f.put("val/b/4.png", try Fixtures.png([5, 6], width: 2, height: 1, channels: 1))
        let data = try DatasetLoader.imageFolder(f.dir + "/")
        XCTAssertEqual(data.train.imageShape, [1, 1, 2])
        XCTAssertEqual(data.train.pixels, .uint8([7, 9, 1, 2]), "the alpha 0 pixel keeps its gray value 9")
        XCTAssertEqual(data.test.pixels, .uint8([3, 4, 5, 6]))
        XCTAssertTrue(data.notes[0].contains("(val/ as the test split)"), data.notes[0])
        XCTAssertEqual(data.notes[1], "images [1, 1, 2] (all grayscale); alpha dropped")
        XCTAssertEqual(data.train.defaultAugmentation, Augmentation(cropPadding: 1))

        // RGBA: colours kept as stored even where alpha is 0 (PIL's convert("RGB")).
        let g = try Fixtures()
        try g.put("train/a/1.png", try Fixtures.png([200, 100, 50, 0, 1, 2, 3, 255], width: 2, height: 1, channels: 4))
        try g.put("test/a/1.png", try Fixtures.png([9, 8, 7, 128, 6, 5, 4, 1], width: 2, height: 1, channels: 4))
        let rgba = try DatasetLoader.imageFolder(g.dir)
        XCTAssertEqual(rgba.train.pixels, .uint8([200, 1, 100, 2, 50, 3]))
        XCTAssertEqual(rgba.test.pixels, .uint8([9, 6, 8, 5, 7, 4]))
        XCTAssertEqual(rgba.train.defaultAugmentation, Augmentation(cropPadding: 1, horizontalFlip: true))
    }

    func testJPEGDecodesCloseToTheEncodedColours() throws {
        let f = try Fixtures()
        let orange: [UInt8] = [230, 120, 40]
        let color = try Fixtures.jpeg(Fixtures.flat(orange, width: 16, height: 16), width: 16, height: 16, channels: 3)
        let gray = [UInt8](repeating: 90, count: 256)
        try f.put("train/orange/a.jpg", color)
        try f.put("train/gray/b.JPEG", try Fixtures.jpeg(gray, width: 16, height: 16, channels: 1))
        try f.put("test/orange/a.jpeg", color)
        try f.put("test/gray/b.png", try Fixtures.png(gray, width: 16, height: 16, channels: 1))
        let data = try DatasetLoader.imageFolder(f.dir)
        XCTAssertEqual(data.train.classNames, ["gray", "orange"])
        XCTAssertEqual(data.train.imageShape, [3, 16, 16])
        guard case .uint8(let pixels) = data.train.pixels else { return XCTFail("uint8 pixels") }
        for (i, value) in pixels[0..<768].enumerated() {
            XCTAssertEqual(Int(value), 90, accuracy: 2, "gray JPEG value \(i)")
        }
        for c in 0..<3 {
            for value in pixels[768 + c * 256..<768 + (c + 1) * 256] {
                XCTAssertEqual(Int(value), Int(orange[c]), accuracy: 3, "channel \(c)")
            }
        }
        XCTAssertTrue(data.notes[0].contains("1 PNG, 3 JPEG"), data.notes[0])
    }

    func testMixedSizesAreAnErrorUnlessResized() throws {
        let f = try Fixtures()
        try f.put("train/a/big.png", try Fixtures.png([0, 10, 20, 30], width: 4, height: 1, channels: 1))
        try f.put("train/a/small.png", try Fixtures.png([0, 100, 200, 255], width: 2, height: 2, channels: 1))
        try f.put("test/a/t.png", try Fixtures.png([1, 2], width: 2, height: 1, channels: 1))
        XCTAssertThrowsError(try DatasetLoader.imageFolder(f.dir)) { error in
            XCTAssertEqual(
                "\(error)",
                "\(f.dir): images differ in size: \(f.dir)/train/a/big.png is [1, 4] but "
                    + "\(f.dir)/train/a/small.png is [2, 2] ([H, W]); pass size=[H, W] (or size=N) to resize "
                    + "every image")
        }
        let resize = ImageFolderOptions(size: ImageSize(height: 1, width: 2))
        let data = try DatasetLoader.imageFolder(f.dir, options: resize)
        XCTAssertEqual(data.train.imageShape, [1, 1, 2])
        // big.png [0, 10, 20, 30] -> [5, 25]; small.png's rows average to [100, 178] (177.5 rounds up); t.png as is.
        XCTAssertEqual(data.train.pixels, .uint8([5, 25, 100, 178]))
        XCTAssertEqual(data.test.pixels, .uint8([1, 2]))
        XCTAssertEqual(data.notes[1], "images [1, 1, 2] (all grayscale); 2 resized to [1, 2] (bilinear)")
        let zero = ImageFolderOptions(size: ImageSize(height: 0, width: 2))
        XCTAssertThrowsError(try DatasetLoader.imageFolder(f.dir, options: zero)) {
            XCTAssertEqual(
                $0 as? DatasetError,
                .invalidOption(name: "size", reason: "[0, 2] must be positive with at most 67108864 pixels"))
        }
    }

    func testBilinearResizeMatchesPyTorchInterpolate() {
        // torch.nn.functional.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False) gives
        // [[0, 25, 75, 100], [50, 72.1875, 116.5625, 138.75], [150, 166.5625, 199.6875, 216.25],
        //  [200, 213.75, 241.25, 255]].
        XCTAssertEqual(
            DatasetLoader.resizeBilinear(
                [0, 100, 200, 255], height: 2, width: 2, channels: 1,
                toHeight: 4, toWidth: 4),
            [0, 25, 75, 100, 50, 72, 117, 139, 150, 167, 200, 216, 200, 214, 241, 255])
        // 3 x 5 -> 2 x 3 of (5 r + c) * 17: torch gives [[26.9167, 55.25, 83.5833], [154.4167, 182.75, 211.0833]].
        let ramp = (0..<15).map { UInt8($0 * 17) }
        XCTAssertEqual(
            DatasetLoader.resizeBilinear(ramp, height: 3, width: 5, channels: 1, toHeight: 2, toWidth: 3),
            [27, 55, 84, 154, 183, 211])
        // Channels are resized independently; the same size is the identity.
        XCTAssertEqual(
            DatasetLoader.resizeBilinear(
                [0, 255, 10, 20], height: 1, width: 2, channels: 2,
                toHeight: 1, toWidth: 1),
            [5, 138])
        XCTAssertEqual(
            DatasetLoader.resizeBilinear(rgb, height: 2, width: 3, channels: 3, toHeight: 2, toWidth: 3),
            rgb)
    }

    func testSingleFolderIsOneSplitOrHoldsOutBalanced() throws {
        let f = try Fixtures()
        for (c, name) in ["x", "y"].enumerated() {
            for i in 0..<5 {
                let png = try Fixtures.png([UInt8(c * 100 + i)], width: 1, height: 1, channels: 1)
                try f.put("pets/\(name)/\(i).png", png)
            }
        }
        let root = f.dir + "/pets"
        // Without test=, the folder is one split as torchvision's ImageFolder(root) reads it: every image is a train
        // image, in class order, and the test split is empty.
        let whole = try DatasetLoader.imageFolder(root)
        XCTAssertEqual(whole.train.count, 10)
        XCTAssertEqual(whole.train.classNames, ["x", "y"])
        XCTAssertEqual(whole.train.labels, [0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
        XCTAssertEqual(whole.test.count, 0)
        XCTAssertTrue(
            whole.notes[0].hasSuffix(
                "10 images from \(root), test none (a single split: pass test=N to hold "
                    + "N out, or add a test/ folder); 10 PNG, 0 JPEG"), whole.notes[0])
        let data = try DatasetLoader.imageFolder(root, options: ImageFolderOptions(testCount: 4, seed: 3))
        XCTAssertEqual(data.train.count, 6)
        XCTAssertEqual(data.test.classCounts, [2, 2])
        XCTAssertEqual(data.train.name, "pets/train")
        XCTAssertEqual(data.test.name, "pets/test")
        guard case .uint8(let train) = data.train.pixels, case .uint8(let test) = data.test.pixels else {
            return XCTFail("uint8")
        }
        XCTAssertEqual((train + test).sorted(), [0, 1, 2, 3, 4, 100, 101, 102, 103, 104], "every image in one split")
        XCTAssertEqual(data.train.labels, train.map { $0 >= 100 ? 1 : 0 })
        let again = try DatasetLoader.imageFolder(root, options: ImageFolderOptions(testCount: 4, seed: 3))
        XCTAssertEqual(again.test.pixels, data.test.pixels, "seeded")
        XCTAssertTrue(data.notes[0].contains("test 4 held out of them (class-balanced, seed 3)"), data.notes[0])
        XCTAssertThrowsError(try DatasetLoader.imageFolder(root, options: ImageFolderOptions(testCount: 10))) {
            XCTAssertEqual(
                $0 as? DatasetError,
                .invalidOption(name: "test", reason: "10 must be in 1..<10 (the images in \(root))"))
        }
        // A root with its own test split refuses test=.
        try f.put("test/x/0.png", try Fixtures.png([0], width: 1, height: 1, channels: 1))
        try f.put("train/x/0.png", try Fixtures.png([0], width: 1, height: 1, channels: 1))
        XCTAssertThrowsError(try DatasetLoader.imageFolder(f.dir, options: ImageFolderOptions(testCount: 1))) {
            XCTAssertTrue("\($0)".contains("has its own test split"), "\($0)")
        }
    }

    func testBadFilesAndFoldersNameTheFileAndReason() throws {
        func error(_ build: (Fixtures) throws -> Void) throws -> String {
            let f = try Fixtures()
            try build(f)
            do { _ = try DatasetLoader.imageFolder(f.dir) } catch {
                return "\(error)".replacingOccurrences(of: f.dir, with: "D")
            }
            return "no error"
        }
        let good = try Fixtures.png([UInt8](repeating: 7, count: 4096), width: 64, height: 64, channels: 1)
        func layout(_ f: Fixtures, bad name: String, _ bytes: [UInt8]) throws {
            try f.put("train/a/ok.png", good)
            try f.put("test/a/ok.png", good)
            try f.put("train/a/" + name, bytes)
        }
        var corrupt = good
        corrupt[20] ^= 0xFF  // inside IHDR: its CRC no longer matches
        XCTAssertEqual(
            try error { try layout($0, bad: "bad.png", corrupt) },
            "D/train/a/bad.png: cannot read image: IHDR: CRC error")
        var truncatedPNG = try Fixtures.png((0..<4096).map { UInt8($0 % 251) }, width: 64, height: 64, channels: 1)
        truncatedPNG.removeLast(40)
        XCTAssertEqual(
            try error { try layout($0, bad: "cut.png", truncatedPNG) },
            "D/train/a/cut.png: cannot read image: read beyond end of data")
        let jpeg = try Fixtures.jpeg((0..<4096).map { UInt8($0 % 253) }, width: 64, height: 64, channels: 1)
        XCTAssertEqual(
            try error { try layout($0, bad: "cut.jpg", Array(jpeg.prefix(jpeg.count / 2))) },
            "D/train/a/cut.jpg: cannot read image: Premature end of JPEG file")
        XCTAssertEqual(
            try error { try layout($0, bad: "empty.png", []) },
            "D/train/a/empty.png: cannot read image: empty file (0 bytes)")
        XCTAssertEqual(
            try error { try layout($0, bad: "text.jpg", Array("hello".utf8)) },
            "D/train/a/text.jpg: cannot read image: neither PNG nor JPEG data (starts with 68 65 6c 6c 6f; "
                + "PNG starts 89 50 4e 47, JPEG ff d8 ff)")
        // A control character in a file name is escaped, never sent to the terminal.
        XCTAssertEqual(
            try error { try layout($0, bad: "red\u{1B}[31m.png", []) },
            "D/train/a/red\\u{1b}[31m.png: cannot read image: empty file (0 bytes)")
        XCTAssertEqual(
            try error {
                try $0.put("train/a/notes.txt", [1])
                try $0.put("test/a/ok.png", good)
            },
            "D/train/a: class folder without .png, .jpg or .jpeg files")
        XCTAssertEqual(
            try error {
                try $0.put("train/readme.txt", [1])
                try $0.put("test/a/ok.png", good)
            },
            "D/train: no class folders (an ImageFolder holds one sub-folder of images per class)")
        XCTAssertEqual(
            try error { f in
                for path in ["train/a/ok.png", "train/b/ok.png", "test/a/ok.png"] {
                    try f.put(path, good)
                }
            },
            "D/test: its class folders differ from D/train's: it lacks b")
        XCTAssertThrowsError(try DatasetLoader.imageFolder("/nonexistent/sskd-images")) {
            XCTAssertEqual($0 as? DatasetError, .missingFile(path: "/nonexistent/sskd-images"))
        }
    }

    func testSizeBoundsAreCheckedBeforeDecoding() throws {
        // A PNG header (signature + IHDR) claiming 10000 x 10000 pixels and nothing after it.
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            return Fixtures.bytes([UInt32(data.count).bigEndian]) + body + Fixtures.bytes([crc.bigEndian])
        }
        let side = Fixtures.bytes([UInt32(10_000).bigEndian])
        let huge =
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", side + side + [8, 0, 0, 0, 0])
            + chunk("IDAT", [0x78, 0x9C])
        let f = try Fixtures()
        try f.put("train/a/huge.png", huge)
        try f.put("test/a/huge.png", huge)
        XCTAssertThrowsError(try DatasetLoader.imageFolder(f.dir)) {
            XCTAssertEqual(
                "\($0)",
                "\(f.dir)/train/a/huge.png: cannot read image: 10000 x 10000 pixels, more than the "
                    + "limit of 67108864 (2^26)")
        }
        // 43 one-pixel images resized to 8192 x 8192 RGB would need 8.6 GB: refused before any is decoded.
        let g = try Fixtures()
        for i in 0..<42 {
            try g.put("train/a/\(i).png", try Fixtures.png([1, 2, 3], width: 1, height: 1, channels: 3))
        }
        try g.put("test/a/0.png", try Fixtures.png([1, 2, 3], width: 1, height: 1, channels: 3))
        let large = ImageFolderOptions(size: ImageSize(height: 8192, width: 8192))
        XCTAssertThrowsError(try DatasetLoader.imageFolder(g.dir, options: large)) {
            XCTAssertEqual(
                "\($0)",
                "\(g.dir): 43 images of [3, 8192, 8192] need 8657043456 bytes, more than the limit "
                    + "of \(DatasetLoader.maximumImageFolderBytes) (8 GiB or a quarter of this machine's memory, "
                    + "the smaller); pass a smaller size=")
        }
    }

    /// A 4 x 4 gray PNG whose one zlib stream goes on for 64 MiB of zeros after its 20 bytes of rows (64 KB on
    /// disk): refused once the data passes what the image can fill, instead of inflating it all.
    func testImageDataPastThePixelsIsRefused() throws {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            return Fixtures.bytes([UInt32(data.count).bigEndian]) + body + Fixtures.bytes([crc.bigEndian])
        }
        func gray4x4(rowsThen extra: Int) -> [UInt8] {
            let raw =
                (0..<4).flatMap { r in [0] + (0..<4).map { UInt8(r * 4 + $0) } } + [UInt8](repeating: 0, count: extra)
            var size = compressBound(UInt(raw.count))
            var deflated = [UInt8](repeating: 0, count: Int(size))
            _ = compress2(&deflated, &size, raw, UInt(raw.count), 9)
            let side = Fixtures.bytes([UInt32(4).bigEndian])
            return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", side + side + [8, 0, 0, 0, 0])
                + chunk("IDAT", Array(deflated.prefix(Int(size)))) + chunk("IEND", [])
        }
        let fine = gray4x4(rowsThen: 0)
        XCTAssertEqual(
            try DatasetLoader.decodePixels(fine, path: "ok.png", height: 4, width: 4, channels: 1), Array(0..<16))
        let bomb = gray4x4(rowsThen: 64 << 20)
        XCTAssertLessThan(bomb.count, 100_000)
        XCTAssertThrowsError(try DatasetLoader.decodePixels(bomb, path: "bomb.png", height: 4, width: 4, channels: 1)) {
            XCTAssertEqual(
                "\($0)",
                "bomb.png: cannot read image: its image data inflates to more than the 1104 bytes a 4 x 4 image"
                    + " can fill")
        }
    }

    /// A progressive JPEG may have as many scans as its size allows (each scan is a pass over the image): 100
    /// scans decode, 704 are refused with the limit named.
    func testProgressiveScansAreBounded() throws {
        let pixels = (0..<(64 * 64)).map { UInt8(($0 * 7) % 256) }
        let some = try Fixtures.jpeg(pixels, width: 64, height: 64, channels: 1, progressiveScans: 100)
        XCTAssertEqual(
            try DatasetLoader.decodePixels(some, path: "some.jpg", height: 64, width: 64, channels: 1).count, 4096)
        let many = try Fixtures.jpeg(pixels, width: 64, height: 64, channels: 1, progressiveScans: 704)
        XCTAssertThrowsError(try DatasetLoader.decodePixels(many, path: "many.jpg", height: 64, width: 64, channels: 1))
        {
            XCTAssertEqual("\($0)", "many.jpg: cannot read image: more than 500 progressive scans for a 64 x 64 image")
        }
    }

    /// Image files that decode to more than 256 times their bytes (beyond 64 MiB) are refused before decoding:
    /// 20 PNGs of 2048 x 2048 zeros, 80 KB in all, would take 80 MB.
    func testImageFilesThatDecodeToFarMoreThanTheyHoldAreRefused() throws {
        func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
            let body = Array(type.utf8) + data
            let crc = body.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
            return Fixtures.bytes([UInt32(data.count).bigEndian]) + body + Fixtures.bytes([crc.bigEndian])
        }
        let raw = [UInt8](repeating: 0, count: 2049 * 2048)
        var size = compressBound(UInt(raw.count))
        var deflated = [UInt8](repeating: 0, count: Int(size))
        _ = compress2(&deflated, &size, raw, UInt(raw.count), 9)
        let side = Fixtures.bytes([UInt32(2048).bigEndian])
        let png =
            [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", side + side + [8, 0, 0, 0, 0])
            + chunk("IDAT", Array(deflated.prefix(Int(size)))) + chunk("IEND", [])
        let f = try Fixtures()
        for i in 0..<10 {
            try f.put("train/a/\(i).png", png)
            try f.put("test/a/\(i).png", png)
        }
        XCTAssertThrowsError(try DatasetLoader.imageFolder(f.dir)) {
            XCTAssertTrue("\($0)".contains("decode to 83886080 bytes of pixels, more than 256:1"), "\($0)")
        }
    }

    func testCancellationStopsBetweenFiles() throws {
        let f = try Fixtures()
        let good = try Fixtures.png([1], width: 1, height: 1, channels: 1)
        for i in 0..<5 {
            try f.put("train/a/\(i).png", good)
            try f.put("test/a/\(i).png", good)
        }
        var polls = 0
        let options = ImageFolderOptions(isCancelled: {
            polls += 1
            return polls > 3
        })
        XCTAssertThrowsError(try DatasetLoader.imageFolder(f.dir, options: options)) {
            XCTAssertTrue($0 is CancellationError)
        }
        XCTAssertEqual(polls, 4)
        // The walk of a class folder polls at each folder: a tree of 40 folders stops at the tenth.
        let g = try Fixtures()
        try g.put("train/a/" + (0..<40).map { "d\($0)" }.joined(separator: "/") + "/x.png", good)
        try g.put("test/a/x.png", good)
        polls = 0
        XCTAssertThrowsError(
            try DatasetLoader.imageFolder(
                g.dir,
                options: ImageFolderOptions(isCancelled: {
                    polls += 1
                    return polls >= 10
                }))
        ) { XCTAssertTrue($0 is CancellationError) }
        XCTAssertEqual(polls, 10)
    }

    func testDetectionAndPrintable() throws {
        let f = try Fixtures()
        XCTAssertTrue(DatasetLoader.isImageFolder(f.dir))
        XCTAssertFalse(DatasetLoader.isImageFolder(f.dir + "/missing"))
        XCTAssertFalse(DatasetLoader.isImageFolder("cifar10"), "known names are never folders")
        XCTAssertEqual(DatasetLoader.printable("a\u{7}b\u{202E}c\té"), "a\\u{7}b\\u{202e}c\\u{9}é")
        XCTAssertEqual(DatasetLoader.datasetBase("/data/imagenet/train"), "imagenet")
        XCTAssertEqual(DatasetLoader.datasetBase("/data/pets"), "pets")
    }
}

/// Seeded random PNG and JPEG bytes through libpng and libjpeg: each mutant of a valid file decodes to the size its
/// header gave or is a `DatasetError.badImage` naming the file, never a crash, an exit() or a print.
final class ImageCodecMutationTests: XCTestCase {
    private func check(_ base: [UInt8], seed: UInt64, count: Int = 600) {
        var decoded = 0
        for bytes in mutants(of: base, count: count, seed: seed, boundaries: datasetBoundaries) {
            do {
                let info = try DatasetLoader.probe(bytes, path: "m")
                for channels in info.gray != 0 ? [1, 3] : [3] {
                    let pixels = try DatasetLoader.decodePixels(
                        bytes, path: "m", height: Int(info.height),
                        width: Int(info.width), channels: channels)
                    XCTAssertEqual(pixels.count, Int(info.height) * Int(info.width) * channels)
                }
                decoded += 1
            } catch let error as DatasetError {
                guard case .badImage("m", _) = error else { return XCTFail("\(error) does not name the file") }
            } catch {
                XCTFail("untyped error \(error)")
            }
        }
        XCTAssertLessThan(decoded, count, "no mutant was refused: the mutations do not reach the decoder")
    }

    func testPNGAndJPEGMutants() throws {
        let ramp = (0..<768).map { UInt8($0 % 256) }
        check(try Fixtures.png(ramp, width: 16, height: 16, channels: 3), seed: 11)
        check(try Fixtures.png(Array(ramp.prefix(512)), width: 16, height: 16, channels: 2), seed: 12)
        check(try Fixtures.jpeg(ramp, width: 16, height: 16, channels: 3), seed: 13)
        check(try Fixtures.jpeg(Array(ramp.prefix(256)), width: 16, height: 16, channels: 1), seed: 14)
    }
}
