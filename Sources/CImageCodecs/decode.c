// PNG and JPEG decoding (and test-only encoding) for the ImageFolder reader; see include/sskd_image_codecs.h.
//
// PNG: libpng 1.6's simplified API (libpng manual, "Simplified API"; png.h, png_image_*). It converts any PNG
// (palette, gray, gray+alpha, RGB, RGBA, 1 to 16 bits, interlaced) to the 8-bit sRGB format asked for; errors come
// back in png_image.message, and libpng's own setjmp stays inside libpng.
// JPEG: libjpeg-turbo's libjpeg API (libjpeg.txt). Its default error_exit prints and calls exit(); here error_exit
// longjmps back to the function below that called libjpeg, which lies wholly in this file, so no Swift frame is
// ever skipped. Warnings are silenced; the two that mean the data ended early or broke off (JWRN_JPEG_EOF, "Premature
// end of JPEG file", and JWRN_HIT_MARKER, "Corrupt JPEG data: premature end of data segment") turn the decode into
// an error, as PIL refuses truncated files. Defaults as PIL uses them: JDCT_ISLOW, fancy upsampling.
#include "sskd_image_codecs.h"

#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>
#include <jerror.h>

/// Scans a progressive JPEG may have before it is refused: real files have about 10, while a crafted file can
/// hold thousands of tiny scans that each cost a full pass (libjpeg-turbo's advice for untrusted input).
#define SSKD_MAX_JPEG_SCANS 500
/// Scans times pixels a progressive JPEG may cost (2^30: about a second of decoding on this machine).
#define SSKD_JPEG_SCAN_PIXELS (1ULL << 30)

static void set_message(char *message, size_t size, const char *format, ...) {
    if (message == NULL || size == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(message, size, format, args);
    va_end(args);
}

static int is_png(const uint8_t *data, size_t size) {
    static const uint8_t signature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
    return size >= 8 && memcmp(data, signature, 8) == 0;
}

static int is_jpeg(const uint8_t *data, size_t size) {
    return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

static int unknown_format(const uint8_t *data, size_t size, char *message, size_t message_size) {
    if (size == 0) {
        set_message(message, message_size, "empty file");
    } else {
        char hex[3 * 8 + 1] = "";
        size_t n = size < 8 ? size : 8;
        for (size_t i = 0; i < n; i++) snprintf(hex + 3 * i, 4, i + 1 < n ? "%02x " : "%02x", data[i]);
        set_message(message, message_size,
                    "neither PNG nor JPEG data (starts with %s; PNG starts 89 50 4e 47, JPEG ff d8 ff)", hex);
    }
    return SSKD_IMAGE_UNKNOWN_FORMAT;
}

// MARK: - JPEG error handling

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    /// Set by the first warning that means the data is truncated or broken off; `warning` holds its text.
    int fatal_warning;
    char warning[JMSG_LENGTH_MAX];
} sskd_jpeg_error;

static void jpeg_error_exit(j_common_ptr cinfo) {
    sskd_jpeg_error *error = (sskd_jpeg_error *)cinfo->err;
    longjmp(error->jump, 1);
}

static void jpeg_emit_message(j_common_ptr cinfo, int level) {
    sskd_jpeg_error *error = (sskd_jpeg_error *)cinfo->err;
    if (level >= 0) return;   // trace messages
    error->pub.num_warnings++;
    int code = error->pub.msg_code;
    if (!error->fatal_warning && (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER)) {
        error->fatal_warning = 1;
        (*cinfo->err->format_message)(cinfo, error->warning);
    }
}

static void jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

/// The scans a progressive JPEG of `pixels` pixels may have: each scan costs a pass over the whole image, so the
/// product is bounded by SSKD_JPEG_SCAN_PIXELS (about a second of work), with at least 12 scans (real files have
/// about 10) and at most SSKD_MAX_JPEG_SCANS.
static int jpeg_scan_limit(uint64_t pixels) {
    uint64_t limit = pixels == 0 ? SSKD_MAX_JPEG_SCANS : SSKD_JPEG_SCAN_PIXELS / pixels;
    return limit < 12 ? 12 : limit > SSKD_MAX_JPEG_SCANS ? SSKD_MAX_JPEG_SCANS : (int)limit;
}

static void jpeg_limit_scans(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    int limit = jpeg_scan_limit((uint64_t)d->image_width * d->image_height);
    if (d->input_scan_number > limit) {
        cinfo->err->msg_code = JERR_NOT_COMPILED;   // any code: the message is replaced below
        snprintf(((sskd_jpeg_error *)cinfo->err)->warning, JMSG_LENGTH_MAX,
                 "more than %d progressive scans for a %u x %u image", limit, d->image_width, d->image_height);
        ((sskd_jpeg_error *)cinfo->err)->fatal_warning = 2;
        longjmp(((sskd_jpeg_error *)cinfo->err)->jump, 1);
    }
}

static void install_error_manager(j_common_ptr cinfo, sskd_jpeg_error *error) {
    memset(error, 0, sizeof *error);
    cinfo->err = jpeg_std_error(&error->pub);
    error->pub.error_exit = jpeg_error_exit;
    error->pub.emit_message = jpeg_emit_message;
    error->pub.output_message = jpeg_output_message;
}

/// The way out of a longjmp from libjpeg, for the function that called setjmp: writes the reason (the scan limit's
/// text, else libjpeg's message for the error), destroys the (de)compressor, frees `owned` (may be NULL) and returns
/// SSKD_IMAGE_CORRUPT.
static int jpeg_failure(j_common_ptr cinfo, sskd_jpeg_error *error, void *owned, char *message, size_t message_size) {
    if (error->fatal_warning == 2) {
        set_message(message, message_size, "%s", error->warning);
    } else {
        char text[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, text);
        set_message(message, message_size, "%s", text);
    }
    jpeg_destroy(cinfo);  // what jpeg_destroy_decompress and jpeg_destroy_compress do
    free(owned);
    return SSKD_IMAGE_CORRUPT;
}

// MARK: - Probe

/// Starts libpng's simplified reader on `data` (its header read into `image`); on failure writes libpng's message and
/// returns 0.
static int begin_png(png_image *image, const uint8_t *data, size_t size, char *message, size_t message_size) {
    memset(image, 0, sizeof *image);
    image->version = PNG_IMAGE_VERSION;
    if (png_image_begin_read_from_memory(image, data, size)) return 1;
    set_message(message, message_size, "%s", image->message);
    return 0;
}

static int probe_png(const uint8_t *data, size_t size, sskd_image_info *info, char *message, size_t message_size) {
    png_image image;
    if (!begin_png(&image, data, size, message, message_size)) return SSKD_IMAGE_CORRUPT;
    info->format = SSKD_IMAGE_PNG;
    info->width = image.width;
    info->height = image.height;
    info->gray = (image.format & PNG_FORMAT_FLAG_COLOR) == 0;
    info->alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    png_image_free(&image);
    return SSKD_IMAGE_OK;
}

static int probe_jpeg(const uint8_t *data, size_t size, sskd_image_info *info, char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    sskd_jpeg_error error;
    install_error_manager((j_common_ptr)&cinfo, &error);
    if (setjmp(error.jump)) return jpeg_failure((j_common_ptr)&cinfo, &error, NULL, message, message_size);
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    info->format = SSKD_IMAGE_JPEG;
    info->width = cinfo.image_width;
    info->height = cinfo.image_height;
    info->gray = cinfo.num_components == 1;
    info->alpha = 0;
    jpeg_destroy_decompress(&cinfo);
    return SSKD_IMAGE_OK;
}

int sskd_image_probe(const uint8_t *data, size_t size, sskd_image_info *info, char *message, size_t message_size) {
    memset(info, 0, sizeof *info);
    if (is_png(data, size)) return probe_png(data, size, info, message, message_size);
    if (is_jpeg(data, size)) return probe_jpeg(data, size, info, message, message_size);
    return unknown_format(data, size, message, message_size);
}

// MARK: - Decode

static int check_size(uint64_t width, uint64_t height, int channels, size_t capacity, uint64_t max_pixels,
                      char *message, size_t message_size) {
    if (width == 0 || height == 0 || width * height > max_pixels) {
        set_message(message, message_size, "%llu x %llu pixels, more than the limit of %llu",
                    (unsigned long long)width, (unsigned long long)height, (unsigned long long)max_pixels);
        return SSKD_IMAGE_TOO_LARGE;
    }
    if (width * height * (uint64_t)channels != (uint64_t)capacity) {
        set_message(message, message_size, "%llu x %llu pixels do not fill the %zu-byte buffer (file changed?)",
                    (unsigned long long)width, (unsigned long long)height, capacity);
        return SSKD_IMAGE_TOO_LARGE;
    }
    return SSKD_IMAGE_OK;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/// Inflates the IDAT stream of a PNG (PNG spec §10, zlib RFC 1950) without keeping it, and refuses it when it
/// inflates to more than a W x H image of its colour type and bit depth can fill (each row a filter byte plus its
/// pixels, Adam7 passes bounded by 15 more bytes a row). libpng inflates whatever follows the last row when it
/// finishes reading, so a small file could hold gigabytes of deflated data after its pixels; this bounds the
/// work to the image's own size. Called after png_image_begin_read_from_memory has checked the header.
static int check_idat(const uint8_t *data, size_t size, char *message, size_t message_size) {
    if (size < 33) return SSKD_IMAGE_OK;  // libpng reports the truncation itself
    uint64_t width = be32(data + 16), height = be32(data + 20);
    int depth = data[24], color = data[25];
    int samples = color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 1;
    uint64_t row = (width * (uint64_t)(samples * depth) + 7) / 8;
    uint64_t limit = height * (row + 16) + 1024;
    z_stream stream;
    memset(&stream, 0, sizeof stream);
    if (inflateInit(&stream) != Z_OK) return SSKD_IMAGE_OK;
    uint8_t scratch[16384];
    uint64_t produced = 0;
    int status = Z_OK;
    size_t at = 8;
    while (status == Z_OK && at + 12 <= size) {
        uint32_t length = be32(data + at);
        if (length > size - at - 12) break;  // truncated: libpng reports it
        if (memcmp(data + at + 4, "IDAT", 4) == 0) {
            stream.next_in = (Bytef *)(data + at + 8);
            stream.avail_in = length;
            while (stream.avail_in > 0 && status == Z_OK) {
                stream.next_out = scratch;
                stream.avail_out = sizeof scratch;
                status = inflate(&stream, Z_NO_FLUSH);
                produced += sizeof scratch - stream.avail_out;
                if (produced > limit) break;
                if (status == Z_BUF_ERROR) status = Z_OK;  // no progress possible until more input
                if (stream.avail_out != 0 && status == Z_OK && stream.avail_in == 0) break;
            }
        }
        if (produced > limit) break;
        at += 12 + (size_t)length;
    }
    inflateEnd(&stream);
    if (produced > limit) {
        set_message(message, message_size,
                    "its image data inflates to more than the %llu bytes a %llu x %llu image can fill",
                    (unsigned long long)limit, (unsigned long long)width, (unsigned long long)height);
        return SSKD_IMAGE_CORRUPT;
    }
    return SSKD_IMAGE_OK;  // other zlib errors: libpng reports them
}

static int decode_png(const uint8_t *data, size_t size, int channels, uint8_t *pixels, size_t capacity,
                      uint64_t max_pixels, char *message, size_t message_size) {
    png_image image;
    if (!begin_png(&image, data, size, message, message_size)) return SSKD_IMAGE_CORRUPT;
    int status = check_size(image.width, image.height, channels, capacity, max_pixels, message, message_size);
    if (status == SSKD_IMAGE_OK) status = check_idat(data, size, message, message_size);
    if (status == SSKD_IMAGE_OK && channels == 1 && (image.format & PNG_FORMAT_FLAG_COLOR)) {
        set_message(message, message_size, "color image asked for as grayscale");
        status = SSKD_IMAGE_CORRUPT;
    }
    if (status != SSKD_IMAGE_OK) {
        png_image_free(&image);
        return status;
    }
    int alpha = (image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
    // 8-bit sRGB output; the alpha channel (if any) is read and then dropped so colors stay as stored.
    image.format = (channels == 3 ? PNG_FORMAT_FLAG_COLOR : 0) | (alpha ? PNG_FORMAT_FLAG_ALPHA : 0);
    // A 16-bit file without gAMA/sRGB/iCCP is taken as sRGB-encoded (as PIL and browsers do), not as linear.
    image.flags |= PNG_IMAGE_FLAG_16BIT_sRGB;
    size_t pixel_count = (size_t)image.width * image.height;
    uint8_t *buffer = pixels;
    if (alpha) {
        buffer = malloc(pixel_count * (size_t)(channels + 1));
        if (buffer == NULL) {
            png_image_free(&image);
            set_message(message, message_size, "out of memory");
            return SSKD_IMAGE_NO_MEMORY;
        }
    }
    if (!png_image_finish_read(&image, NULL, buffer, 0, NULL)) {
        set_message(message, message_size, "%s", image.message);
        if (alpha) free(buffer);
        return SSKD_IMAGE_CORRUPT;
    }
    if (alpha) {
        for (size_t p = 0; p < pixel_count; p++) {
            for (int c = 0; c < channels; c++) pixels[p * channels + c] = buffer[p * (channels + 1) + c];
        }
        free(buffer);
    }
    return SSKD_IMAGE_OK;
}

static int decode_jpeg(const uint8_t *data, size_t size, int channels, uint8_t *pixels, size_t capacity,
                       uint64_t max_pixels, char *message, size_t message_size) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    sskd_jpeg_error error;
    uint8_t *volatile row = NULL;   // CMYK scanline; volatile: assigned after setjmp
    install_error_manager((j_common_ptr)&cinfo, &error);
    if (setjmp(error.jump)) return jpeg_failure((j_common_ptr)&cinfo, &error, row, message, message_size);
    jpeg_create_decompress(&cinfo);
    memset(&progress, 0, sizeof progress);
    progress.progress_monitor = jpeg_limit_scans;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    int status = check_size(cinfo.image_width, cinfo.image_height, channels, capacity, max_pixels,
                            message, message_size);
    if (status == SSKD_IMAGE_OK && channels == 1 && cinfo.num_components != 1) {
        set_message(message, message_size, "color image asked for as grayscale");
        status = SSKD_IMAGE_CORRUPT;
    }
    if (status != SSKD_IMAGE_OK) {
        jpeg_destroy_decompress(&cinfo);
        return status;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = channels == 1 ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    JDIMENSION width = cinfo.output_width;
    if (width != cinfo.image_width || cinfo.output_height != cinfo.image_height
        || cinfo.output_components != (cmyk && channels == 3 ? 4 : channels)) {
        set_message(message, message_size, "unexpected output layout %u x %u x %d", cinfo.output_width,
                    cinfo.output_height, cinfo.output_components);
        jpeg_destroy_decompress(&cinfo);
        return SSKD_IMAGE_CORRUPT;
    }
    if (cmyk && channels == 3) {
        row = malloc((size_t)width * 4);
        if (row == NULL) {
            jpeg_destroy_decompress(&cinfo);
            set_message(message, message_size, "out of memory");
            return SSKD_IMAGE_NO_MEMORY;
        }
    }
    while (cinfo.output_scanline < cinfo.output_height && !error.fatal_warning) {
        uint8_t *target = pixels + (size_t)cinfo.output_scanline * width * (size_t)channels;
        JSAMPROW rows[1] = {row != NULL ? row : target};
        if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
        if (row != NULL) {
            // Adobe writes CMYK inverted (0 = full ink); others store it plain.
            for (JDIMENSION x = 0; x < width; x++) {
                unsigned k = row[4 * x + 3];
                for (int c = 0; c < 3; c++) {
                    unsigned v = row[4 * x + c];
                    target[3 * x + c] = cinfo.saw_Adobe_marker ? (uint8_t)((v * k + 127) / 255)
                                                               : (uint8_t)(((255 - v) * (255 - k) + 127) / 255);
                }
            }
        }
    }
    if (error.fatal_warning || cinfo.output_scanline < cinfo.output_height) {
        set_message(message, message_size, "%s", error.fatal_warning ? error.warning : "scanlines missing");
        jpeg_destroy_decompress(&cinfo);
        free(row);
        return SSKD_IMAGE_CORRUPT;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (error.fatal_warning) {
        set_message(message, message_size, "%s", error.warning);
        return SSKD_IMAGE_CORRUPT;
    }
    return SSKD_IMAGE_OK;
}

int sskd_image_decode(const uint8_t *data, size_t size, int channels, uint8_t *pixels, size_t capacity,
                      uint64_t max_pixels, char *message, size_t message_size) {
    if (channels != 1 && channels != 3) {
        set_message(message, message_size, "%d channels asked for (1 or 3)", channels);
        return SSKD_IMAGE_CORRUPT;
    }
    if (is_png(data, size)) {
        return decode_png(data, size, channels, pixels, capacity, max_pixels, message, message_size);
    }
    if (is_jpeg(data, size)) {
        return decode_jpeg(data, size, channels, pixels, capacity, max_pixels, message, message_size);
    }
    return unknown_format(data, size, message, message_size);
}

// MARK: - Encoders (tests and fixtures)

int sskd_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels,
                    uint8_t **out, size_t *out_size, char *message, size_t message_size) {
    static const png_uint_32 formats[4] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB, PNG_FORMAT_RGBA};
    *out = NULL;
    *out_size = 0;
    if (channels < 1 || channels > 4) {
        set_message(message, message_size, "%d channels (1 to 4)", channels);
        return SSKD_IMAGE_CORRUPT;
    }
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = width;
    image.height = height;
    image.format = formats[channels - 1];
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, pixels, 0, NULL)) {
        set_message(message, message_size, "%s", image.message);
        return SSKD_IMAGE_CORRUPT;
    }
    uint8_t *buffer = malloc(size);
    if (buffer == NULL) {
        set_message(message, message_size, "out of memory");
        return SSKD_IMAGE_NO_MEMORY;
    }
    if (!png_image_write_to_memory(&image, buffer, &size, 0, pixels, 0, NULL)) {
        set_message(message, message_size, "%s", image.message);
        free(buffer);
        return SSKD_IMAGE_CORRUPT;
    }
    *out = buffer;
    *out_size = size;
    return SSKD_IMAGE_OK;
}

int sskd_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality,
                     int progressive_scans, uint8_t **out, size_t *out_size, char *message, size_t message_size) {
    struct jpeg_compress_struct cinfo;
    sskd_jpeg_error error;
    unsigned char *volatile buffer = NULL;   // volatile: assigned by libjpeg after setjmp
    unsigned long size = 0;
    *out = NULL;
    *out_size = 0;
    if (channels != 1 && channels != 3) {
        set_message(message, message_size, "%d channels (1 or 3)", channels);
        return SSKD_IMAGE_CORRUPT;
    }
    install_error_manager((j_common_ptr)&cinfo, &error);
    if (setjmp(error.jump)) return jpeg_failure((j_common_ptr)&cinfo, &error, buffer, message, message_size);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&buffer, &size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    // Gray images may be written progressive with one scan per successive-approximation bit of every coefficient
    // band: DC first at Al 10 then refinements to Al 0, the same for each AC coefficient 1...63 (704 scans), for
    // tests of the decoder's scan limit.
    static jpeg_scan_info script[64 * 11];
    if (progressive_scans > 0 && channels == 1) {
        int n = 0;
        for (int k = 0; k < 64 && n < progressive_scans; k++) {
            for (int al = 10; al >= 0 && n < progressive_scans; al--) {
                jpeg_scan_info scan = {1, {0, 0, 0, 0}, k, k, al == 10 ? 0 : al + 1, al};
                script[n++] = scan;
            }
        }
        cinfo.scan_info = script;
        cinfo.num_scans = n;
    }
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rows[1] = {(JSAMPROW)(pixels + (size_t)cinfo.next_scanline * width * (size_t)channels)};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = buffer;
    *out_size = size;
    return SSKD_IMAGE_OK;
}
