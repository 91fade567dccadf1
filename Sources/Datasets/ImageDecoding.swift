// Reading, decoding (libpng, libjpeg-turbo through CImageCodecs) and resizing the images of an ImageFolder.
import CImageCodecs
import Foundation
import Storage

#if canImport(Glibc)
    import Glibc
#endif

extension DatasetLoader {
    // MARK: - Decoding

    /// Bilinear resize of an `[H, W, C]` (channel-interleaved) uint8 image to `[toHeight, toWidth, C]`, as
    /// PyTorch's `interpolate(mode="bilinear", align_corners=False, antialias=False)` (torchvision
    /// `Resize(antialias=False)` on tensors): output pixel `(y, x)` samples the input at
    /// `sy = max(0, (y + 0.5) * H / toHeight - 0.5)` (likewise `sx`), weighting its two neighbouring rows and
    /// columns (the last one repeated at the border) by distance; the result is rounded to the nearest integer,
    /// halves up. No antialiasing: shrinking by more than 2 skips pixels (PIL's resize, which torchvision uses on
    /// PIL images, averages them).
    /// - Precondition: `pixels.count == height * width * channels` and all sizes positive (the reader's own
    ///   sizes; never file data unchecked).
    public static func resizeBilinear(
        _ pixels: [UInt8], height: Int, width: Int, channels: Int,
        toHeight: Int, toWidth: Int
    ) -> [UInt8] {
        precondition(pixels.count == height * width * channels && toHeight > 0 && toWidth > 0, "resizeBilinear sizes")
        func taps(_ n: Int, _ size: Int) -> [(Int, Int, Double)] {
            let scale = Double(size) / Double(n)
            return (0..<n).map { i in
                let source = max(0, (Double(i) + 0.5) * scale - 0.5)
                let i0 = min(Int(source), size - 1)
                return (i0, min(i0 + 1, size - 1), source - Double(i0))
            }
        }
        let rows = taps(toHeight, height)
        let columns = taps(toWidth, width)
        var out = [UInt8](repeating: 0, count: toHeight * toWidth * channels)
        for (y, (y0, y1, wy)) in rows.enumerated() {
            for (x, (x0, x1, wx)) in columns.enumerated() {
                for c in 0..<channels {
                    func at(_ r: Int, _ q: Int) -> Double { Double(pixels[(r * width + q) * channels + c]) }
                    let top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
                    let bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
                    let value = top * (1 - wy) + bottom * wy
                    out[(y * toWidth + x) * channels + c] = UInt8(min(255, max(0, (value + 0.5).rounded(.down))))
                }
            }
        }
        return out
    }

    /// The bytes of image file `path`, after checking it is a non-empty regular file of at most
    /// `maximumImageFileBytes`.
    /// - Throws: `DatasetError.badImage` (empty, too large, not a regular file), `.missingFile`, `.unreadable`.
    static func readImage(_ path: String) throws -> [UInt8] {
        var info = stat()
        guard stat(path, &info) == 0 else { throw DatasetError.missingFile(path: printable(path)) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw DatasetError.badImage(path: path, reason: "not a regular file")
        }
        guard info.st_size > 0 else { throw DatasetError.badImage(path: path, reason: "empty file (0 bytes)") }
        guard info.st_size <= maximumImageFileBytes else {
            throw DatasetError.badImage(
                path: path, reason: "\(info.st_size) bytes, more than the limit of \(maximumImageFileBytes)")
        }
        do { return try FileBytes.contents(path) } catch DatasetError.unreadable(_, let reason) {
            throw DatasetError.badImage(path: path, reason: "cannot read: \(reason)")
        } catch DatasetError.missingFile {
            throw DatasetError.missingFile(path: printable(path))
        }
    }

    /// What the header of the PNG or JPEG `bytes` says, after checking it against `maximumImagePixels`.
    /// - Throws: `DatasetError.badImage` naming `path` (not PNG/JPEG, corrupt header, too many pixels).
    static func probe(_ bytes: [UInt8], path: String) throws -> sskd_image_info {
        var info = sskd_image_info()
        try codec(path) { sskd_image_probe(bytes, bytes.count, &info, $0, $1) }
        guard UInt64(info.width) * UInt64(info.height) <= UInt64(maximumImagePixels) else {
            throw DatasetError.badImage(
                path: path,
                reason: "\(info.width) x \(info.height) pixels, more than the limit "
                    + "of \(maximumImagePixels) (2^26)")
        }
        return info
    }

    /// The pixels `[height, width, channels]` (interleaved, `channels` 1 or 3) of the PNG or JPEG `bytes`, whose
    /// header gave `height` x `width`.
    /// - Throws: `DatasetError.badImage` naming `path` (corrupt or truncated data, another size than the header's).
    static func decodePixels(_ bytes: [UInt8], path: String, height: Int, width: Int, channels: Int) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: height * width * channels)
        _ = try pixels.withUnsafeMutableBufferPointer { out in
            try codec(path) {
                sskd_image_decode(
                    bytes, bytes.count, Int32(channels), out.baseAddress, out.count,
                    UInt64(maximumImagePixels), $0, $1)
            }
        }
        return pixels
    }

    /// Runs a codec call with a message buffer; a non-zero status becomes `DatasetError.badImage` naming `path`.
    @discardableResult
    static func codec(_ path: String, _ call: (UnsafeMutablePointer<CChar>, Int) -> Int32) throws -> String {
        var message = [CChar](repeating: 0, count: 256)
        let status = message.withUnsafeMutableBufferPointer { call($0.baseAddress!, $0.count) }
        let text = printable(String(cString: message))
        guard status == Int32(SSKD_IMAGE_OK) else { throw DatasetError.badImage(path: path, reason: text) }
        return text
    }

    /// The one size of all images (or `given`).
    /// - Throws: `DatasetError.badImageFolder` naming two files of different sizes when `given` is nil.
    static func commonSize(_ files: [ImageFile], _ given: ImageSize?, root: String) throws -> ImageSize {
        if let given { return given }
        guard let first = files.first else { throw DatasetError.badImageFolder(path: root, reason: "no images") }
        if let other = files.first(where: { $0.height != first.height || $0.width != first.width }) {
            throw DatasetError.badImageFolder(
                path: root,
                reason: "images differ in size: \(printable(first.path)) is "
                    + "[\(first.height), \(first.width)] but \(printable(other.path)) is "
                    + "[\(other.height), \(other.width)] ([H, W]); pass size=[H, W] "
                    + "(or size=N) to resize every image")
        }
        return ImageSize(height: first.height, width: first.width)
    }

    /// Decodes `files` into `[N, C, H, W]` bytes, resizing those of another size.
    /// - Throws: `DatasetError.badImage` naming the file, `CancellationError`.
    static func decode(_ files: [ImageFile], channels: Int, size: ImageSize, cancelled: () -> Bool) throws -> [UInt8] {
        let plane = size.height * size.width
        let imageBytes = channels * plane
        var pixels = [UInt8](repeating: 0, count: files.count * imageBytes)
        for (n, file) in files.enumerated() {
            if cancelled() { throw CancellationError() }
            var decoded = try decodePixels(
                readImage(file.path), path: file.path, height: file.height,
                width: file.width, channels: channels)
            if file.height != size.height || file.width != size.width {
                decoded = resizeBilinear(
                    decoded, height: file.height, width: file.width, channels: channels,
                    toHeight: size.height, toWidth: size.width)
            }
            // HWC to CHW.
            pixels.withUnsafeMutableBufferPointer { out in
                let start = n * imageBytes
                for p in 0..<plane {
                    for c in 0..<channels { out[start + c * plane + p] = decoded[p * channels + c] }
                }
            }
        }
        return pixels
    }
}
