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
        // MNIST and KMNIST have ten classes whichever labels a subset holds.
        XCTAssertEqual(train.classCount, 10)
        // Fashion-MNIST by name from a folder: classes are fixed to its ten.
        let fashion = try DatasetLoader.fashionMNIST(root: f.dir, train: false)
        XCTAssertEqual(fashion.classNames[3], "Dress")
        XCTAssertEqual(
            fashion.summary,
            "fashion-mnist/test: 2 images [1, 2, 2], 10 classes (T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, "
                + "Shirt, Sneaker, Bag, Ankle boot)"
        )
        try f.write("t10k-labels-idx1-ubyte", Fixtures.idx([2], [3, 255]))
        assertDatasetError(try DatasetLoader.standard("mnist", path: f.dir)) {
            $0 == .labelOutOfRange(path: f.dir + "/t10k-labels-idx1-ubyte", index: 1, label: 255, classCount: 10)
        }
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

    /// Files without class names number their classes up to the largest label, but a label far above the rest
    /// (a 255 among 0...9, the label of a missing value) is an error naming the file and the sample.
    func testOutlyingLabelIsRefusedNotMadeIntoClasses() throws {
        XCTAssertEqual(try Dataset.numberedClasses(forLabels: [0, 3, 1], path: "y").count, 4)
        XCTAssertEqual(try Dataset.numberedClasses(forLabels: [0, 99, 97], path: "y").count, 100)
        XCTAssertEqual(try Dataset.numberedClasses(forLabels: [15, 0], path: "y").count, 16)
        assertDatasetError(try Dataset.numberedClasses(forLabels: [0, 9, 1, 255, 3], path: "y")) {
            $0
                == .badValues(
                    path: "y",
                    reason: "label 255 of sample 3 stands far above the rest (the other labels lie in 0...9); class"
                        + " ids must run 0..<K: remap the labels rather than make 256 classes")
        }
        assertDatasetError(try Dataset.numberedClasses(forLabels: [99_999, 99_999], path: "y")) {
            "\($0)".hasPrefix("y: label 99999 of sample 0 stands far above the rest (no other label)")
        }
        assertDatasetError(try Dataset.numberedClasses(forLabels: [0, -1], path: "y")) {
            $0 == .labelOutOfRange(path: "y", index: 1, label: -1, classCount: Dataset.maximumClasses)
        }
        let f = try Fixtures()
        let images = try f.write("i", Fixtures.idx([3, 2, 2], Fixtures.pattern(n: 3, size: 4)))
        let labels = try f.write("l", Fixtures.idx([3], [0, 1, 200]))
        assertDatasetError(try DatasetLoader.idx(images: images, labels: labels)) {
            "\($0)".hasPrefix("\(labels): label 200 of sample 2 stands far above the rest")
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
