import FuzzSupport

@testable import Datasets

// The NumPy readers: an input starting with `PK` is a `.npz` archive (`x_train`, `y_train`); any other is
// an images `.npy` and a labels `.npy` (see `split`). Both layouts are read into a data set.
runFuzzer { input in
    if input.starts(with: [0x50, 0x4B]) {
        _ = try? DatasetLoader.npz(bytes: input, path: "fuzz.npz")
    } else {
        let (images, labels) = split(input)
        _ = try? DatasetLoader.npy(imageBytes: images, imagesPath: "x.npy", labelBytes: labels, labelsPath: "y.npy")
    }
}
