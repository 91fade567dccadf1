import Foundation
import XCTest

@testable import Datasets

/// MNIST-family files where torchvision puts them: `root/FashionMNIST/raw`, `root/MNIST/raw`, `root/KMNIST/raw`.
final class TorchvisionLayoutTests: XCTestCase {
    /// Writes the four IDX files (3 train, 2 test images 4x4) into `folder` under the fixture folder.
    private func writeIDX(_ f: Fixtures, _ folder: String, gzip: Bool, rawToo: Bool = false) throws {
        try FileManager.default.createDirectory(atPath: f.dir + "/" + folder, withIntermediateDirectories: true)
        let files: [(String, [UInt8])] = [
            ("train-images-idx3-ubyte", Fixtures.idx([3, 4, 4], Fixtures.pattern(n: 3, size: 16))),
            ("train-labels-idx1-ubyte", Fixtures.idx([3], [2, 0, 9])),
            ("t10k-images-idx3-ubyte", Fixtures.idx([2, 4, 4], Fixtures.pattern(n: 2, size: 16))),
            ("t10k-labels-idx1-ubyte", Fixtures.idx([2], [5, 1])),
        ]
        for (name, bytes) in files {
            try f.write("\(folder)/\(name)\(gzip ? ".gz" : "")", bytes, gzip: gzip)
            if rawToo { try f.write("\(folder)/\(name)", bytes) }
        }
    }

    func testTorchvisionRoots() throws {
        let f = try Fixtures()
        try writeIDX(f, "FashionMNIST/raw", gzip: true, rawToo: true)  // torchvision keeps the .gz and the raw file
        try writeIDX(f, "MNIST/raw", gzip: true)
        for (name, path) in [("fashion-mnist", f.dir), ("fashion-mnist", f.dir + "/FashionMNIST"), ("mnist", f.dir)] {
            let (train, test) = try DatasetLoader.standard(name, path: path)
            XCTAssertEqual(train.labels, [2, 0, 9], "\(name) at \(path)")
            XCTAssertEqual(test.labels, [5, 1])
            XCTAssertEqual(train.imageShape, [1, 4, 4])
            XCTAssertEqual(train.image(1)[3], Float(7 + 3) / 255, accuracy: 1e-7)
        }
        XCTAssertEqual(try DatasetLoader.standard("fashion-mnist", path: f.dir).train.classNames[9], "Ankle boot")
        assertDatasetError(try DatasetLoader.standard("kmnist", path: f.dir)) {
            $0
                == .missingFiles(
                    wanted: "train-images-idx3-ubyte[.gz]", folders: [f.dir, f.dir + "/KMNIST/raw", f.dir + "/raw"])
        }
        XCTAssertEqual(
            "\(DatasetError.missingFiles(wanted: "train-images-idx3-ubyte[.gz]", folders: ["/r", "/r/KMNIST/raw"]))",
            "no train-images-idx3-ubyte[.gz] in /r, /r/KMNIST/raw")
        try writeIDX(f, "KMNIST/raw", gzip: false)
        XCTAssertEqual(try DatasetLoader.standard("kmnist", path: f.dir).test.labels, [5, 1])
        // Files in the folder itself win over torchvision's subfolder.
        try f.write("train-images-idx3-ubyte", Fixtures.idx([1, 4, 4], Fixtures.pattern(n: 1, size: 16)))
        try f.write("train-labels-idx1-ubyte", Fixtures.idx([1], [4]))
        XCTAssertEqual(try DatasetLoader.mnistFolder(f.dir, name: "mnist", train: true).labels, [4])
        // A split whose labels file is missing names it in the folder where its images are.
        try FileManager.default.removeItem(atPath: f.dir + "/MNIST/raw/t10k-labels-idx1-ubyte.gz")
        let other = try Fixtures()
        try FileManager.default.createDirectory(atPath: other.dir + "/MNIST", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: f.dir + "/MNIST/raw", toPath: other.dir + "/MNIST/raw")
        assertDatasetError(try DatasetLoader.mnistFolder(other.dir, name: "mnist", train: false)) {
            $0 == .missingFile(path: other.dir + "/MNIST/raw/t10k-labels-idx1-ubyte[.gz]")
        }
    }
}
