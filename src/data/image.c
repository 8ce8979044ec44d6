/* Image decode dispatch (JPEG / PNG / DICOM by content), limits, load and free. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dicom_internal.h"
#include "internal.h"
#include "pneumo/util.h"

long pn__max_pixels(const pn_decode_opts *o)
{
    if (!o || o->max_pixels == 0) return PN_IMAGE_MAX_PIXELS_DEFAULT;
    return o->max_pixels;
}

int pn__min_side(const pn_decode_opts *o)
{
    if (!o || o->min_side == 0) return PN_IMAGE_MIN_SIDE_DEFAULT;
    return o->min_side < 1 ? 1 : o->min_side;
}

pn_status pn__check_dims(long w, long h, const pn_decode_opts *o, const char *name,
                         const char *fmt, pn_error *err)
{
    long maxpx = pn__max_pixels(o);
    int mins = pn__min_side(o);
    if (w <= 0 || h <= 0)
        return pn_error_set(err, PN_E_FORMAT, "%s: %s has an empty size %ldx%ld", name, fmt, w, h);
    if (maxpx > 0 && (double)w * (double)h > (double)maxpx)
        return pn_error_set(err, PN_E_NOMEM,
                            "%s: %s is %ldx%ld = %.0f pixels, over the limit of %ld pixels "
                            "(decompression bomb check, as Pillow)",
                            name, fmt, w, h, (double)w * (double)h, maxpx);
    if (w < mins || h < mins)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: %s is only %ldx%ld, below the minimum side of %d pixels", name,
                            fmt, w, h, mins);
    return PN_OK;
}

pn_status pn__image_alloc(pn_image *img, int w, int h, int c, const char *name, pn_error *err)
{
    size_t need = (size_t)w * (size_t)h * (size_t)c;
    if (need == 0) need = 1;
    if (img->cap < need) {
        free(img->px);
        img->px = malloc(need);
        img->cap = img->px ? need : 0;
        if (!img->px) {
            img->w = img->h = 0;
            return pn_error_set(err, PN_E_NOMEM, "%s: out of memory for a %dx%dx%d image", name,
                                w, h, c);
        }
    }
    img->w = w;
    img->h = h;
    img->c = c;
    return PN_OK;
}

pn_status pn_image_decode(const uint8_t *buf, size_t n, const char *name,
                          const pn_decode_opts *o, pn_image *img, pn_error *err)
{
    if (!name) name = "(image)";
    if (!img || (!buf && n)) return pn_error_set(err, PN_E_ARG, "%s: no image or buffer", name);
    img->w = img->h = 0;
    img->png16 = img->png16_clipped = 0;
    img->patient_id[0] = img->sop_uid[0] = 0;
    if (n == 0) return pn_error_set(err, PN_E_FORMAT, "%s: empty file (0 bytes)", name);
    /* DICOM first: "DICM" at 128 (its preamble may hold anything), or a
     * data set at byte 0 */
    int dicom = pn__dicom_sniff(buf, n);
    if (dicom) return pn__dicom_decode(buf, n, name, o, img, err);
    /* a file named .dcm is meant to be DICOM: an export that wrote another
     * format under that name is refused, not guessed at */
    size_t ln = strlen(name);
    if (ln >= 4 && !strcasecmp(name + ln - 4, ".dcm"))
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: named .dcm but not a DICOM file (no DICM at byte 128, no data "
                            "set at byte 0; content starts %02x %02x %02x %02x%s)",
                            name, buf[0], n > 1 ? buf[1] : 0, n > 2 ? buf[2] : 0,
                            n > 3 ? buf[3] : 0,
                            n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 ? ": a JPEG" : "");
    if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF)
        return pn__jpeg_decode(buf, n, name, o, img, err);
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && !memcmp(buf, png_magic, 8)) return pn__png_decode(buf, n, name, o, img, err);
    const char *other = NULL;
    if (n >= 4 && (!memcmp(buf, "II*\0", 4) || !memcmp(buf, "MM\0*", 4))) other = "TIFF";
    else if (n >= 12 && !memcmp(buf, "RIFF", 4) && !memcmp(buf + 8, "WEBP", 4)) other = "WebP";
    else if (n >= 4 && !memcmp(buf, "GIF8", 4)) other = "GIF";
    else if (n >= 14 && buf[0] == 'B' && buf[1] == 'M') other = "BMP";
    else if (n >= 3 && buf[0] == 'P' && buf[1] >= '1' && buf[1] <= '6' &&
             (buf[2] == '\n' || buf[2] == ' ' || buf[2] == '\r' || buf[2] == '\t'))
        other = "PNM (PPM/PGM)";
    if (other)
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "%s: a %s image, a format pneumo does not read (it reads JPEG, PNG "
                            "and DICOM: convert the file, e.g. to PNG)",
                            name, other);
    return pn_error_set(err, PN_E_FORMAT,
                        "%s: not a JPEG or PNG image, nor DICOM (unknown leading bytes %02x %02x "
                        "%02x %02x, %zu bytes)",
                        name, buf[0], n > 1 ? buf[1] : 0, n > 2 ? buf[2] : 0, n > 3 ? buf[3] : 0,
                        n);
}

pn_status pn_image_load(const char *path, const pn_decode_opts *o, pn_image *img, pn_error *err)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    if (!path) return pn_error_set(err, PN_E_ARG, "pn_image_load: no path");
    pn_status st = pn_read_file(path, PN_MAX_FILE_BYTES, &buf, &n, err);
    if (st) return st;
    st = pn_image_decode(buf, n, path, o, img, err);
    free(buf);
    return st;
}

pn_status pn_png16_parse(const char *s, pn_png16 *out, pn_error *err)
{
    if (s && !strcmp(s, "scale")) *out = PN_PNG16_SCALE;
    else if (s && !strcmp(s, "clip")) *out = PN_PNG16_CLIP;
    else
        return pn_error_set(err, PN_E_ARG, "unknown 16-bit PNG policy '%s' (want scale or clip)",
                            s ? s : "");
    return PN_OK;
}

const char *pn_png16_name(pn_png16 p) { return p == PN_PNG16_CLIP ? "clip" : "scale"; }

void pn_image_free(pn_image *img)
{
    if (!img) return;
    free(img->px);
    memset(img, 0, sizeof *img);
}

void pn_image_to_rgb(const pn_image *img, uint8_t *rgb)
{
    size_t np = (size_t)img->w * (size_t)img->h;
    if (img->c == 3) {
        memcpy(rgb, img->px, np * 3);
        return;
    }
    for (size_t i = 0; i < np; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = img->px[i];
}
