import FuzzSupport

@testable import Datasets

// The IDX reader: an images file and a labels file (see `split`), each raw or gzipped, into a data set.
runFuzzer { input in
    let (images, labels) = split(input)
    guard let imageBytes = try? FileBytes.decode(images, path: "images-idx3-ubyte"),
        let labelBytes = try? FileBytes.decode(labels, path: "labels-idx1-ubyte")
    else { return }
    _ = try? DatasetLoader.idx(
        imageBytes: imageBytes, imagesPath: "images-idx3-ubyte", labelBytes: labelBytes,
        labelsPath: "labels-idx1-ubyte")
}
