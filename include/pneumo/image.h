/* pneumo: image decode and preprocessing, bit-exact with Pillow 9.4 +
 * torchvision 0.14:
 *
 *     Image.open(f).convert('RGB')            -> pn_image_load / pn_image_decode
 *     .resize((224, 224), Image.BILINEAR)     -> pn_image_resize
 *     ToTensor() + Normalize(ImageNet)        -> pn_image_to_tensor
 *
 * Grayscale images stay one channel (c = 1) through decode and resize and
 * are replicated to R = G = B only at the end; this is bit-identical to
 * Pillow's convert('RGB') before the resize (l2rgb is pure replication).
 *
 * DICOM (recognised by content: "DICM" at byte 128, or a data set from
 * byte 0) is decoded by GDCM (every transfer syntax of a hospital export,
 * JPEG 2000 and JPEG-LS included) and rendered for display as pydicom does
 * (modality LUT, then the first VOI LUT or window, or min-max, MONOCHROME1
 * inverted, floor(255 t)) into an 8-bit grayscale image; docs/data.md
 * gives the rule and the refusals (multi-frame, colour, no pixel data,
 * truncated, Rows/Columns against the codestream).
 *
 * Decode: JPEG via libjpeg-turbo (ISLOW DCT, fancy upsampling, the library
 * defaults Pillow uses; CMYK/YCCK JPEGs converted like Pillow's "CMYK;I" +
 * cmyk2rgb), PNG via libpng (L, LA, RGB, RGBA, P, 1/2/4-bit gray, 16-bit:
 * converted as Pillow's convert('RGB') converts them, except that 16-bit
 * grayscale is scaled to 0..255 by default; pn_decode_opts.png16 =
 * PN_PNG16_CLIP gives Pillow's clipping of mode "I" values). The format is
 * chosen by the content, not the file name. EXIF orientation is not applied (as
 * Pillow's Image.open). The library never exits on bad data: libjpeg's
 * error_exit is replaced by a longjmp back into pn_image_decode.
 *
 * A truncated JPEG (libjpeg's "premature end of data" warning) is an error,
 * as in Pillow (OSError "image file is truncated"); so is a bad marker after
 * the last scanline (jpeg_finish_decompress; Pillow: "broken data stream").
 * libjpeg's other warnings (it recovered from corrupt data: "premature end of
 * data segment", "extraneous bytes before marker") are errors too, unless
 * pn_jpeg_set_lenient(1) (--lenient-jpeg), which ignores them as Pillow does.
 * 12-bit and lossless JPEGs are PN_E_UNSUPPORTED.
 *
 * Thread safety: all functions are reentrant; distinct pn_image values may
 * be used from different threads.
 */
#ifndef PNEUMO_IMAGE_H
#define PNEUMO_IMAGE_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif
/* For the process: 1 ignores libjpeg's corrupt-data warnings (Pillow's way),
 * 0 (the default) refuses such JPEGs. */
void pn_jpeg_set_lenient(int on);
#ifdef __cplusplus
}
#endif

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The side of the network input (torchvision Resize((224, 224))). */
#define PN_IMAGE_SIZE 224

/* Default pixel limit: Pillow's DecompressionBombError threshold,
 * 2 * Image.MAX_IMAGE_PIXELS = 2 * 89,478,485. Checked from the header,
 * before any pixel buffer is allocated. */
#define PN_IMAGE_MAX_PIXELS_DEFAULT 178956970L
/* Default smallest accepted side: an image narrower or lower than this is
 * rejected as "too small" (a 1x1 file is not a chest X-ray). */
#define PN_IMAGE_MIN_SIDE_DEFAULT 16

/* Room for a DICOM id in pn_image: LO and UI values are at most 64 chars. */
#define PN_IMAGE_ID_MAX 72

/* An 8-bit image, rows top to bottom, pixels HWC interleaved.
 * A zero-initialised pn_image is empty. Decode and resize functions reuse
 * the buffer an output image already holds when it is big enough (cap
 * bytes), so a loop over many images allocates only when an image is
 * larger than any before it. Free with pn_image_free. */
typedef struct pn_image {
    int w, h;
    int c;       /* 1 = L (grayscale), 3 = RGB */
    uint8_t *px; /* px[(y * w + x) * c + k], owned */
    size_t cap;  /* bytes allocated at px */
    /* Set by decode: 0, or for a 16-bit grayscale PNG the pn_png16 policy
     * applied; png16_clipped = 1 when PN_PNG16_CLIP met values over 255
     * (those pixels became white). */
    int png16, png16_clipped;
    /* Set by decode: a DICOM image's PatientID (0010,0020) and
     * SOPInstanceUID (0008,0018), "" when absent and for other formats
     * (what `predict --json` and predictions.csv report). */
    char patient_id[PN_IMAGE_ID_MAX];
    char sop_uid[PN_IMAGE_ID_MAX];
} pn_image;

/* How a 16-bit grayscale PNG (what DICOM-to-PNG exports write) becomes
 * 8 bits:
 *   PN_PNG16_SCALE (the default, what a reader of the image expects):
 *     out = round(v * 255 / (2^b - 1)), half up, b = the sBIT gray depth
 *     when the file has one (a 12-bit export: b = 12), else 16; values
 *     above 2^b - 1 give 255.
 *   PN_PNG16_CLIP: Pillow's convert('RGB') of mode "I": values over 255
 *     become 255. Bit-exact with a PyTorch/Pillow pipeline, but 10- to
 *     16-bit data come out mostly white. */
typedef enum pn_png16 {
    PN_PNG16_DEFAULT = 0, /* = PN_PNG16_SCALE */
    PN_PNG16_SCALE = 1,
    PN_PNG16_CLIP = 2
} pn_png16;
/* "scale" / "clip" (PN_E_ARG otherwise), and back. */
pn_status pn_png16_parse(const char *s, pn_png16 *out, pn_error *err);
const char *pn_png16_name(pn_png16 p);

/* Decode options; a zero-initialised struct (or NULL) gives the defaults. */
typedef struct pn_decode_opts {
    /* Non-zero: JPEGs are decoded with libjpeg-turbo DCT scaling by M/8
     * (M = 1..8), the smallest scale whose output is still >= 2 x
     * fast_target on each side that is being reduced, before the exact
     * resize. Not bit-exact (docs/data.md gives the measured differences). */
    int fast_decode;
    int fast_target; /* 0 = PN_IMAGE_SIZE */
    /* Pixel limit (w * h): 0 = PN_IMAGE_MAX_PIXELS_DEFAULT, < 0 = none. */
    long max_pixels;
    /* Smallest side: 0 = PN_IMAGE_MIN_SIDE_DEFAULT, < 0 or 1 = any. */
    int min_side;
    /* 16-bit grayscale PNGs (see pn_png16). */
    pn_png16 png16;
} pn_decode_opts;

/* Decode a JPEG, PNG or DICOM held in memory (format from the content).
 * name is used in error messages ("<name>: truncated JPEG ..."), and a
 * name ending in .dcm whose content is not DICOM is refused.
 * img may hold a previous buffer, which is reused when big enough.
 * Errors: PN_E_FORMAT (not an image, corrupt, truncated, too small, or an
 * unsupported layout), PN_E_UNSUPPORTED (TIFF, BMP, WebP, GIF, PNM: named;
 * a multi-frame or colour DICOM), PN_E_NOMEM (over the pixel limit, also
 * from a DICOM header before any pixel buffer, or out of memory).
 * On error img keeps its buffer (still freeable) and w = h = 0. */
pn_status pn_image_decode(const uint8_t *buf, size_t n, const char *name,
                          const pn_decode_opts *o, pn_image *img, pn_error *err);
/* Read the file and decode it; errors name the path. */
pn_status pn_image_load(const char *path, const pn_decode_opts *o, pn_image *img,
                        pn_error *err);
void pn_image_free(pn_image *img);

/* Which files a folder walk takes (folder datasets, predict DIR):
 *   PN_FILE_IMAGE       .jpg .jpeg .png .dcm .dicom (any case), or a file
 *                       whose name has no extension (or only digits after
 *                       the last dot, as UID-named PACS exports) and whose
 *                       content is DICOM ("DICM" at 128, or a data set
 *                       starting at byte 0); *format "JPEG"/"PNG"/"DICOM"
 *   PN_FILE_UNSUPPORTED an image format pneumo does not read (torchvision's
 *                       other extensions: .tif .tiff .bmp .webp .ppm .pgm,
 *                       and .gif); *format names it ("TIFF", ...), so the
 *                       caller can report the file instead of skipping it
 *   PN_FILE_NOT_IMAGE   anything else, and hidden names (".*")
 * Only DICOM candidates without an image extension are opened (136 bytes
 * read). format may be NULL. */
typedef enum pn_image_file_kind {
    PN_FILE_NOT_IMAGE = 0,
    PN_FILE_IMAGE = 1,
    PN_FILE_UNSUPPORTED = 2
} pn_image_file_kind;
pn_image_file_kind pn_image_file_classify(const char *path, const char **format);

/* Pillow Image.resize((ow, oh), BILINEAR) (antialiased triangle filter,
 * support 1, 22-bit fixed point, horizontal pass first over only the rows
 * the vertical pass needs, round and clip to uint8 after each pass).
 * out gets in->c channels; out must not be in. out's buffer is reused. */
pn_status pn_image_resize(const pn_image *in, int ow, int oh, pn_image *out, pn_error *err);

/* ImageNet normalisation used by torchvision's ResNet-18 weights. */
extern const float pn_imagenet_mean[3]; /* 0.485, 0.456, 0.406 */
extern const float pn_imagenet_std[3];  /* 0.229, 0.224, 0.225 */

/* ToTensor + Normalize: chw[k][y][x] = ((float)u / 255.0f - mean[k]) / std[k]
 * in float32, exactly as torchvision on CPU. img->c = 1 is replicated to
 * three channels.
 *   chw (3, img->h, img->w) CHW float32 */
void pn_image_to_tensor(const pn_image *img, float *chw);

/* Replicate/copy to interleaved RGB:  rgb (h, w, 3) HWC uint8. */
void pn_image_to_rgb(const pn_image *img, uint8_t *rgb);

/* Reusable scratch for pn_preprocess (resize buffers). Zero-initialise;
 * free with pn_prep_scratch_free. One per thread. */
typedef struct pn_prep_scratch {
    pn_image resized;
    void *tmp; /* resize intermediate */
    size_t tmp_cap;
} pn_prep_scratch;
void pn_prep_scratch_free(pn_prep_scratch *s);

/* The whole torchvision transform for one decoded image: resize to
 * size x size, then ToTensor + Normalize into chw (3, size, size) CHW
 * float32 (may be NULL) and, when hwc_rgb is not NULL, the resized RGB
 * bytes (size, size, 3) HWC uint8. scratch may be NULL (allocates). */
pn_status pn_preprocess(const pn_image *img, int size, float *chw, uint8_t *hwc_rgb,
                        pn_prep_scratch *scratch, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
