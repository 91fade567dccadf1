// PNG and JPEG decoding for the ImageFolder reader (Sources/Datasets/ImageFolderReader.swift), through libpng 1.6's
// simplified API and libjpeg-turbo (Debian libpng-dev, libjpeg62-turbo-dev; see scripts/setup).
//
// Every function returns a status code and, on failure, writes a one-line reason into `message`. libjpeg's error
// exits longjmp back into the C function that called it (never across a Swift frame), and no function calls
// exit() or prints, whatever the bytes: corrupt, truncated and hostile files are reported, not fatal.
//
// Pixels are 8-bit, row-major, channel-interleaved ("HWC"): 1 channel (gray) or 3 (R, G, B).
#ifndef SSKD_IMAGE_CODECS_H
#define SSKD_IMAGE_CODECS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Status codes of the functions below.
enum {
    SSKD_IMAGE_OK = 0,
    /// The bytes start with neither the PNG signature (89 50 4E 47 0D 0A 1A 0A) nor a JPEG SOI marker (FF D8 FF).
    SSKD_IMAGE_UNKNOWN_FORMAT = 1,
    /// libpng or libjpeg rejected the data (corrupt, truncated, unsupported); `message` says why.
    SSKD_IMAGE_CORRUPT = 2,
    /// The image has more than `max_pixels` pixels, or its size does not match the caller's buffer.
    SSKD_IMAGE_TOO_LARGE = 3,
    /// malloc failed.
    SSKD_IMAGE_NO_MEMORY = 4,
};

/// File formats in `sskd_image_info.format`.
enum { SSKD_IMAGE_PNG = 1, SSKD_IMAGE_JPEG = 2 };

/// What a header says about an image.
typedef struct {
    /// SSKD_IMAGE_PNG or SSKD_IMAGE_JPEG.
    int format;
    /// Width and height in pixels.
    uint32_t width, height;
    /// 1 when the image is grayscale (PNG color types 0 and 4, JPEG with one component), else 0.
    int gray;
    /// 1 when the image has an alpha channel (PNG color types 4 and 6, or a tRNS chunk), else 0.
    int alpha;
} sskd_image_info;

/// Reads the header of a PNG or JPEG held in `data[0..<size]` into `info`, without decoding pixels.
int sskd_image_probe(const uint8_t *data, size_t size, sskd_image_info *info, char *message, size_t message_size);

/// Decodes the PNG or JPEG in `data[0..<size]` into `pixels`, `height × width × channels` bytes, `channels` 1
/// (gray) or 3 (RGB). Gray images are expanded to RGB by copying; a color image asked for as gray is an error (the
/// caller asks for gray only when every image is gray). An alpha channel is dropped, the color values kept as they
/// are (as PIL's `convert("RGB")` does; no compositing). CMYK/YCCK JPEGs are converted to RGB (Adobe inverted
/// CMYK: R = C·K / 255, ...). Fails with SSKD_IMAGE_TOO_LARGE when the image has more than `max_pixels` pixels
/// or `capacity` is not exactly width × height × channels.
int sskd_image_decode(const uint8_t *data, size_t size, int channels, uint8_t *pixels, size_t capacity,
                      uint64_t max_pixels, char *message, size_t message_size);

/// Encodes `pixels` (height × width × channels, channels 1–4: G, GA, RGB, RGBA) as an 8-bit PNG with libpng's
/// simplified write API. On success `*out` is a malloc'ed buffer of `*out_size` bytes (free it with free()).
/// For tests and fixtures.
int sskd_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                    uint8_t **out, size_t *out_size, char *message, size_t message_size);

/// Encodes `pixels` (height × width × channels, channels 1 or 3) as a JPEG of `quality` 1–100 with libjpeg-turbo:
/// baseline, or, for a gray image and `progressive_scans` > 0, progressive with that many successive-approximation
/// scans (at most 704). On success `*out` is a malloc'ed buffer of `*out_size` bytes (free it with free()).
/// For tests and fixtures.
int sskd_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality,
                     int progressive_scans, uint8_t **out, size_t *out_size, char *message, size_t message_size);

#ifdef __cplusplus
}
#endif

#endif
