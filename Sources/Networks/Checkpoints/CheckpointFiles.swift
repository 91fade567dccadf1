import Storage

/// `Storage` file plumbing with its errors mapped to `CheckpointError`, so messages keep naming the file.
extension CheckpointError {
    /// The `CheckpointError` for a `StorageError` met while reading or writing `path`.
    init(_ error: StorageError) {
        switch error {
        case .unreadable(let path, let reason, _): self = .unreadable(path: path, reason: reason)
        case .writeFailed(let path, let reason, _): self = .writeFailed(path: path, reason: reason)
        case .truncatedZip(let path, let reason): self = .truncated(path: path, needed: reason)
        case .badZip(let path, let reason), .badCompressedData(let path, let reason):
            self = .badArchive(path: path, reason: reason)
        }
    }
}

/// Runs `body`, turning a `StorageError` into the matching `CheckpointError`.
func mappingStorageErrors<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as StorageError { throw CheckpointError(error) }
}
