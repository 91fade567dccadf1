import XCTest

@testable import Datasets

final class IDXTests: XCTestCase {
    func testReadsRawAndGzippedPairs() throws {
        let f = try Fixtures()
        let pixels = Fixtures.pattern(n: 5, size: 12)
        for gzip in [false, true] {
            let suffix = gzip ? ".gz" : ""
            let images = try f.write("a-images-idx3-ubyte" + suffix, Fixtures.idx([5, 3, 4], pixels), gzip: gzip)
            let labels = try f.write("a-labels-idx1-ubyte" + suffix, Fixtures.idx([5], [2, 0, 1, 2, 0]), gzip: gzip)
            let d = try DatasetLoader.idx(images: images, labels: labels, name: "toy")
            XCTAssertEqual(d.count, 5)
            XCTAssertEqual(d.imageShape, [1, 3, 4])
            XCTAssertEqual(d.labels, [2, 0, 1, 2, 0])
            XCTAssertEqual(d.classNames, ["0", "1", "2"])
            XCTAssertEqual(d.pixels, .uint8(pixels))
            XCTAssertEqual(d.image(1)[0], 7.0 / 255, accuracy: 1e-7)
            XCTAssertEqual(d.defaultAugmentation, Augmentation(cropPadding: 2))
        }
    }

    func testMNISTFolderFindsTrainAndTestFiles() throws {
        let f = try Fixtures()
        try f.write("train-images-idx3-ubyte.gz", Fixtures.idx([4, 2, 2], Fixtures.pattern(n: 4, size: 4)), gzip: true)
        try f.write("train-labels-idx1-ubyte.gz", Fixtures.idx([4], [0, 1, 2, 3]), gzip: true)
        try f.write("t10k-images-idx3-ubyte", Fixtures.idx([2, 2, 2], Fixtures.pattern(n: 2, size: 4)))
        try f.write("t10k-labels-idx1-ubyte", Fixtures.idx([2], [3, 1]))
        let (train, test) = try DatasetLoader.standard("kmnist", path: f.dir)
        XCTAssertEqual(train.name, "kmnist/train")
        XCTAssertEqual(train.labels, [0, 1, 2, 3])
        XCTAssertEqual(test.name, "kmnist/test")
        XCTAssertEqual(test.labels, [3, 1])
        // Fashion-MNIST by name from a folder: classes are fixed to its ten.
        let fashion = try DatasetLoader.fashionMNIST(root: f.dir, train: false)
        XCTAssertEqual(fashion.classNames[3], "Dress")
        XCTAssertEqual(
            fashion.summary,
            "fashion-mnist/test: 2 images [1, 2, 2], 10 classes (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, "
                + "Shirt, Sneaker, Bag, Ankle boot)"
        )
    }

    func testWrongMagicNumber() throws {
        let f = try Fixtures()
        // A label file (rank 1) passed as images (rank 3).
        let labels = try f.write("l", Fixtures.idx([2], [0, 1]))
        assertDatasetError(try DatasetLoader.idx(images: labels, labels: labels)) {
            $0 == .badMagic(path: labels, expected: "00000803 (unsigned bytes, rank 3)", found: "00000801")
        }
    }

    func testTruncatedFile() throws {
        let f = try Fixtures()
        let full = Fixtures.idx([3, 4, 4], Fixtures.pattern(n: 3, size: 16))
        let images = try f.write("i", Array(full.dropLast(5)))
        let labels = try f.write("l", Fixtures.idx([3], [0, 1, 0]))
        let error = assertDatasetError(try DatasetLoader.idx(images: images, labels: labels)) {
            $0 == .truncated(path: images, expectedBytes: 16 + 48, actualBytes: 16 + 43)
        }
        XCTAssertEqual(error?.description, "\(images): truncated: header needs 64 bytes, file has 59")
        // A header claiming 2^31 images must fail on the size check, not on an allocation.
        let huge = try f.write("huge", Fixtures.idx([Int(Int32.max), 28, 28], []))
        assertDatasetError(try DatasetLoader.idx(images: huge, labels: labels)) {
            $0 == .truncated(path: huge, expectedBytes: 16 + Int(Int32.max) * 784, actualBytes: 16)
        }
    }

    func testImageLabelCountMismatch() throws {
        let f = try Fixtures()
        let images = try f.write("i", Fixtures.idx([3, 2, 2], Fixtures.pattern(n: 3, size: 4)))
        let labels = try f.write("l", Fixtures.idx([2], [0, 1]))
        assertDatasetError(try DatasetLoader.idx(images: images, labels: labels)) {
            $0 == .countMismatch(images: images, imageCount: 3, labels: labels, labelCount: 2)
        }
    }

    func testLabelOutsideClassRange() throws {
        let f = try Fixtures()
        let images = try f.write("i", Fixtures.idx([3, 2, 2], Fixtures.pattern(n: 3, size: 4)))
        let labels = try f.write("l", Fixtures.idx([3], [0, 12, 1]))
        assertDatasetError(
            try DatasetLoader.idx(images: images, labels: labels, classNames: DatasetLoader.fashionMNISTClasses)
        ) {
            $0 == .labelOutOfRange(path: labels, index: 1, label: 12, classCount: 10)
        }
    }

    func testMissingFile() throws {
        let f = try Fixtures()
        let labels = try f.write("l", Fixtures.idx([1], [0]))
        let missing = f.dir + "/nope-idx3-ubyte"
        assertDatasetError(try DatasetLoader.idx(images: missing, labels: labels)) { $0 == .missingFile(path: missing) }
        assertDatasetError(try DatasetLoader.fashionMNIST(root: f.dir, train: true)) {
            $0
                == .missingFiles(
                    wanted: "train-images-idx3-ubyte[.gz]",
                    folders: [f.dir, f.dir + "/FashionMNIST/raw", f.dir + "/raw"])
        }
    }

    func testUnreadableGzip() throws {
        let f = try Fixtures()
        let labels = try f.write("l", Fixtures.idx([1], [0]))
        // Named .gz but not gzip at all.
        let plain = try f.write("i.gz", Fixtures.idx([1, 2, 2], [1, 2, 3, 4]))
        assertDatasetError(try DatasetLoader.idx(images: plain, labels: labels)) {
            $0 == .unreadableGzip(path: plain, reason: "no gzip magic 1f 8b")
        }
        // Real gzip with its deflate stream damaged.
        var bytes = try Array(
            Data(contentsOf: URL(fileURLWithPath: f.write("g.gz", Fixtures.pattern(n: 50, size: 100), gzip: true))))
        for i in 12..<40 { bytes[i] = 0xFF }
        let corrupt = try f.write("corrupt.gz", bytes)
        let error = assertDatasetError(try DatasetLoader.idx(images: corrupt, labels: labels)) {
            if case .unreadableGzip(path: corrupt, reason: _) = $0 { return true }
            return false
        }
        XCTAssertTrue(error?.description.hasPrefix("\(corrupt): unreadable gzip data: ") ?? false)
    }
}
