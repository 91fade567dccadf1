import XCTest

@testable import Datasets

final class NumPyTests: XCTestCase {
    /// 2 RGB images 2x3 in NHWC, value = 100 * n + 10 * c + (y * 3 + x).
    static let nhwc: [UInt8] = {
        var out = [UInt8]()
        for n in 0..<2 { for p in 0..<6 { for c in 0..<3 { out.append(UInt8(100 * n + 10 * c + p)) } } }
        return out
    }()

    func testNpyNHWCUint8WithInt64Labels() throws {
        let f = try Fixtures()
        let images = try f.write("x.npy", Fixtures.npy(descr: "|u1", shape: [2, 2, 3, 3], Self.nhwc))
        let labels = try f.write("y.npy", Fixtures.npy(descr: "<i8", shape: [2], Fixtures.bytes([Int64(1), 0])))
        let d = try DatasetLoader.npy(images: images, labels: labels, classNames: ["a", "b"])
        XCTAssertEqual(d.imageShape, [3, 2, 3])
        XCTAssertEqual(d.labels, [1, 0])
        // NCHW: image 1, channel 2, pixel 4 is 100 + 20 + 4.
        guard case .uint8(let values) = d.pixels else { return XCTFail("expected uint8 pixels") }
        XCTAssertEqual(values[(1 * 3 + 2) * 6 + 4], 124)
        XCTAssertEqual(Array(values[0..<6]), [0, 1, 2, 3, 4, 5])
    }

    func testNpyFloat32NCHWWithInt32AndUint8Labels() throws {
        let f = try Fixtures()
        let pixels: [Float] = (0..<8).map { Float($0) / 8 }
        let images = try f.write("x.npy", Fixtures.npy(descr: "<f4", shape: [2, 1, 2, 2], Fixtures.bytes(pixels)))
        let int32 = try f.write("y32.npy", Fixtures.npy(descr: "<i4", shape: [2, 1], Fixtures.bytes([Int32(3), 1])))
        let d = try DatasetLoader.npy(images: images, labels: int32, layout: .nchw)
        XCTAssertEqual(d.pixels, .float32(pixels))
        XCTAssertEqual(d.labels, [3, 1])
        XCTAssertEqual(d.classCount, 4)
        XCTAssertEqual(d.image(1), [0.5, 0.625, 0.75, 0.875])
        let uint8 = try f.write("y8.npy", Fixtures.npy(descr: "|u1", shape: [2], [2, 2]))
        XCTAssertEqual(try DatasetLoader.npy(images: images, labels: uint8, layout: .nchw).labels, [2, 2])
    }

    func testNpzStoredAndDeflated() throws {
        let f = try Fixtures()
        let x = Fixtures.npy(descr: "|u1", shape: [2, 2, 3, 3], Self.nhwc)
        let y = Fixtures.npy(descr: "<i8", shape: [2], Fixtures.bytes([Int64(0), 1]))
        let xt = Fixtures.npy(descr: "|u1", shape: [1, 2, 3, 3], Array(Self.nhwc.prefix(18)))
        let yt = Fixtures.npy(descr: "<i8", shape: [1], Fixtures.bytes([Int64(1)]))
        for deflate in [false, true] {
            let path = try f.npz(
                "d\(deflate).npz",
                [
                    ("x_train.npy", x), ("y_train.npy", y),
                    ("x_test.npy", xt), ("y_test.npy", yt),
                ], deflate: deflate)
            let train = try DatasetLoader.npz(path)
            XCTAssertEqual(train.imageShape, [3, 2, 3])
            XCTAssertEqual(train.labels, [0, 1])
            XCTAssertEqual(train.image(1)[2 * 6 + 4], Float(124) / 255, accuracy: 1e-7)
            let test = try DatasetLoader.npz(
                path, imagesKey: "x_test", labelsKey: "y_test.npy", classNames: ["a", "b"])
            XCTAssertEqual(test.labels, [1])
            XCTAssertEqual(test.count, 1)
        }
    }

    func testBadNpyHeader() throws {
        let f = try Fixtures()
        let labels = try f.write("y.npy", Fixtures.npy(descr: "<i8", shape: [1], Fixtures.bytes([Int64(0)])))
        let noMagic = try f.write("a.npy", Array("not numpy at all".utf8))
        assertDatasetError(try DatasetLoader.npy(images: noMagic, labels: labels)) {
            $0 == .badNpyHeader(path: noMagic, reason: "no \\x93NUMPY magic")
        }
        let fortran = Fixtures.npy(descr: "|u1", shape: [1, 2, 2], [1, 2, 3, 4])
        let fortranPath = try f.write("b.npy", patch(fortran, "False", "True "))
        assertDatasetError(try DatasetLoader.npy(images: fortranPath, labels: labels)) {
            $0 == .badNpyHeader(path: fortranPath, reason: "fortran_order arrays are not supported")
        }
        for (name, descr) in [("c.npy", "<c8"), ("g.npy", ">f8")] {  // complex; big-endian
            let path = try f.write(
                name, Fixtures.npy(descr: descr, shape: [1, 2, 2], [UInt8](repeating: 0, count: 32)))
            assertDatasetError(try DatasetLoader.npy(images: path, labels: labels)) {
                $0
                    == .badNpyHeader(
                        path: path,
                        reason: "unsupported dtype '\(descr)' (need uint8, float32, float64 or little-endian integers)")
            }
        }
        let shortBytes = Fixtures.npy(descr: "|u1", shape: [1, 28, 28], [1, 2, 3])
        let short = try f.write("d.npy", shortBytes)
        XCTAssertEqual(shortBytes.count, 128 + 3)  // 128-byte preamble (header padded to 64-byte multiple)
        assertDatasetError(try DatasetLoader.npy(images: short, labels: labels)) {
            $0 == .truncated(path: short, expectedBytes: 128 + 784, actualBytes: 128 + 3)
        }
        let floatLabels = try f.write("e.npy", Fixtures.npy(descr: "<f4", shape: [1], Fixtures.bytes([Float(1)])))
        let image = try f.write("f.npy", Fixtures.npy(descr: "|u1", shape: [1, 2, 2], [1, 2, 3, 4]))
        assertDatasetError(try DatasetLoader.npy(images: image, labels: floatLabels)) {
            $0 == .badNpyHeader(path: floatLabels, reason: "labels must be integers, got <f4 [1]")
        }
    }

    func testNpzErrors() throws {
        let f = try Fixtures()
        let notZip = try f.write("a.npz", Array(repeating: 7, count: 100))
        assertDatasetError(try DatasetLoader.npz(notZip)) {
            $0 == .badZip(path: notZip, reason: "no end-of-central-directory record (not a zip file, or cut short)")
        }
        let y = Fixtures.npy(descr: "<i8", shape: [1], Fixtures.bytes([Int64(0)]))
        let onlyLabels = try f.npz("b.npz", [("y_train.npy", y)], deflate: false)
        assertDatasetError(try DatasetLoader.npz(onlyLabels)) {
            $0 == .badZip(path: onlyLabels, reason: "no member 'x_train' (has: y_train)")
        }
        let negative = try f.npz(
            "c.npz",
            [
                ("x.npy", Fixtures.npy(descr: "|u1", shape: [1, 2, 2], [0, 0, 0, 0])),
                ("y.npy", Fixtures.npy(descr: "<i8", shape: [1], Fixtures.bytes([Int64(-1)]))),
            ],
            deflate: true)
        assertDatasetError(try DatasetLoader.npz(negative, imagesKey: "x", labelsKey: "y", classNames: ["a"])) {
            $0 == .labelOutOfRange(path: negative + ":y.npy", index: 0, label: -1, classCount: 1)
        }
    }

    func testTestSplitLackingTheLastClassSharesTheTrainClasses() throws {
        let f = try Fixtures()
        let x = Fixtures.npy(descr: "|u1", shape: [3, 1, 1], [0, 1, 2])
        let path = try f.npz(
            "t.npz",
            [
                ("x_train.npy", x),
                ("y_train.npy", Fixtures.npy(descr: "<i8", shape: [3], Fixtures.bytes([Int64(0), 1, 2]))),
                ("x_test.npy", x),
                ("y_test.npy", Fixtures.npy(descr: "<i8", shape: [3], Fixtures.bytes([Int64(0), 1, 1]))),
            ],
            deflate: false)
        let (train, test) = try DatasetLoader.npzSplits(path)
        XCTAssertEqual(train.classNames, ["0", "1", "2"])
        XCTAssertEqual(test.classNames, ["0", "1", "2"])
        XCTAssertEqual(test.labels, [0, 1, 1])
    }

    func testFloatPixelsOutsideZeroOneAreRefused() throws {
        let f = try Fixtures()
        let labels = Fixtures.npy(descr: "<i8", shape: [1], Fixtures.bytes([Int64(0)]))
        // 0-255 floats (a common mistake) and already-normalised values would be normalised again: refused.
        for (values, message) in [
            (
                [0.0, 12.5, 255.0, 3.0],
                "float pixels must be in [0, 1] (torchvision ToTensor() "
                    + "scale; normalize= is applied on top), got values in [0.0, 255.0]: divide them by "
                    + "255, or store uint8"
            ),
            (
                [-0.8, 0.0, 1.5, 2.0],
                "float pixels must be in [0, 1] (torchvision ToTensor() "
                    + "scale; normalize= is applied on top), got values in [-0.8, 2.0]"
            ),
        ] {
            let images = Fixtures.npy(
                descr: "<f4", shape: [1, 2, 2], Fixtures.bytes(values.map { Float($0).bitPattern }))
            let path = try f.npz(
                "f.npz",
                [("x_train.npy", images), ("y_train.npy", labels)],
                deflate: false)
            XCTAssertThrowsError(try DatasetLoader.npz(path)) {
                XCTAssertEqual("\($0)".components(separatedBy: ": ").dropFirst().joined(separator: ": "), message)
            }
        }
    }

    func testNpzFloat64NHWCWithKeysAndInt32Labels() throws {
        let f = try Fixtures()
        // 2 images 2x2 with 3 channels, NHWC float64: value = (n * 12 + p * 3 + c) / 32.
        let x = (0..<24).map { Double($0) / 32 }
        let images = Fixtures.npy(descr: "<f8", shape: [2, 2, 2, 3], Fixtures.bytes(x.map(\.bitPattern)))
        let labels = Fixtures.npy(descr: "<i4", shape: [2], Fixtures.bytes([Int32(1), 0]))
        let testImages = Fixtures.npy(descr: "|u1", shape: [1, 2, 2, 3], Array(0..<12))
        let testLabels = Fixtures.npy(descr: "|u1", shape: [1, 1], [1])
        let path = try f.npz(
            "my.npz",
            [
                ("images.npy", images), ("labels.npy", labels),
                ("timages.npy", testImages), ("tlabels.npy", testLabels),
            ], deflate: true)
        let (train, test) = try DatasetLoader.npzSplits(path, keys: ["images", "labels", "timages", "tlabels"])
        XCTAssertEqual(train.imageShape, [3, 2, 2])
        XCTAssertEqual(train.labels, [1, 0])
        XCTAssertEqual(train.name, "my.npz/train")
        XCTAssertEqual(test.name, "my.npz/test")
        // NCHW: image 1, channel 2, pixel 3 was NHWC element 1 * 12 + 3 * 3 + 2 = 23.
        XCTAssertEqual(train.image(1)[2 * 4 + 3], Float(23) / 32)
        guard case .float32 = train.pixels else { return XCTFail("float64 images become Float32 pixels") }
        XCTAssertEqual(test.labels, [1])
        XCTAssertEqual(test.image(0)[4], Float(1) / 255, accuracy: 1e-7)  // channel 1, pixel 0: NHWC element 1
        assertDatasetError(try DatasetLoader.npzSplits(path)) {
            $0 == .badZip(path: path, reason: "no member 'x_train' (has: images, labels, timages, tlabels)")
        }
        assertDatasetError(try DatasetLoader.npzSplits(path, keys: ["images", "labels", "timages"])) {
            $0
                == .invalidOption(
                    name: "keys",
                    reason: "needs 4 array names (train images, train labels, test images,"
                        + " test labels), got 3")
        }
    }

    func testNpzHostileArrays() throws {
        let f = try Fixtures()
        let x = Fixtures.npy(descr: "|u1", shape: [3, 2, 2], Array(0..<12))
        let y2 = Fixtures.npy(descr: "<i8", shape: [2], Fixtures.bytes([Int64(0), 1]))
        let mismatched = try f.npz("a.npz", [("x_train.npy", x), ("y_train.npy", y2)], deflate: false)
        assertDatasetError(try DatasetLoader.npz(mismatched)) {
            $0
                == .countMismatch(
                    images: mismatched + ":x_train.npy", imageCount: 3, labels: mismatched + ":y_train.npy",
                    labelCount: 2)
        }
        let complex = Fixtures.npy(descr: "<c16", shape: [1, 2, 2], [UInt8](repeating: 0, count: 64))
        let c = try f.npz("b.npz", [("x_train.npy", complex), ("y_train.npy", y2)], deflate: false)
        assertDatasetError(try DatasetLoader.npz(c)) {
            $0
                == .badNpyHeader(
                    path: c + ":x_train.npy",
                    reason: "unsupported dtype '<c16' (need uint8, float32, float64 or little-endian integers)")
        }
        let ints = Fixtures.npy(descr: "<i8", shape: [2, 1, 1], Fixtures.bytes([Int64(0), 1]))
        let i = try f.npz("c.npz", [("x_train.npy", ints), ("y_train.npy", y2)], deflate: false)
        assertDatasetError(try DatasetLoader.npz(i)) {
            $0
                == .badNpyHeader(
                    path: i + ":x_train.npy", reason: "images must be uint8, float32 or float64, got <i8 [2, 1, 1]")
        }
        let rank2 = Fixtures.npy(descr: "|u1", shape: [2, 4], Array(0..<8))
        let r = try f.npz("d.npz", [("x_train.npy", rank2), ("y_train.npy", y2)], deflate: false)
        assertDatasetError(try DatasetLoader.npz(r)) {
            $0
                == .badNpyHeader(
                    path: r + ":x_train.npy",
                    reason: "images need shape (N, H, W), (N, H, W, C) or (N, C, H, W), got [2, 4]")
        }
        let huge = Fixtures.npy(descr: "<f8", shape: [2, 1, 1], Fixtures.bytes([Double(1e300), 0].map(\.bitPattern)))
        let h = try f.npz("e.npz", [("x_train.npy", huge), ("y_train.npy", y2)], deflate: false)
        assertDatasetError(try DatasetLoader.npz(h)) {
            $0 == .badNpyHeader(path: h + ":x_train.npy", reason: "pixel 0 of image 0 is inf; images must be finite")
        }
    }

    /// Replaces the first occurrence of ASCII `old` in `bytes` by `new` (same length).
    private func patch(_ bytes: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        let o = Array(old.utf8)
        guard let at = (0...(bytes.count - o.count)).first(where: { Array(bytes[$0..<$0 + o.count]) == o }) else {
            return bytes
        }
        var out = bytes
        out.replaceSubrange(at..<at + o.count, with: Array(new.utf8))
        return out
    }
}
