import FuzzSupport

@testable import Datasets

// The CIFAR readers: the input as a CIFAR-10 and a CIFAR-100 binary file, as a class-name file, and as
// python-version pickles (a batch and a meta file, through the restricted unpickler).
runFuzzer { input in
    _ = try? DatasetLoader.parseCIFAR(input, path: "data_batch_1.bin", labelBytes: 1, labelOffset: 0, classCount: 10)
    _ = try? DatasetLoader.parseCIFAR(input, path: "train.bin", labelBytes: 2, labelOffset: 1, classCount: 100)
    _ = try? DatasetLoader.parseClassNames(input, path: "batches.meta.txt", count: 10)
    _ = try? DatasetLoader.parseCIFARPickle(input, path: "data_batch_1", labelsKey: "labels", classCount: 10)
    _ = try? DatasetLoader.parsePickledClassNames(input, path: "batches.meta", key: "label_names", count: 10)
}
