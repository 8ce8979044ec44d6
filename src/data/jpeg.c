/* JPEG decode with libjpeg-turbo, the way Pillow 9.4 decodes:
 * library defaults (ISLOW DCT, fancy upsampling), 1 component -> L,
 * 3 -> RGB (libjpeg's YCbCr->RGB), 4 -> CMYK read as Pillow's "CMYK;I"
 * (Adobe polarity: bytes inverted) then Pillow's cmyk2rgb.
 * libjpeg's error_exit (which would exit()) longjmps back here; the
 * "premature end of JPEG file" warning is an error (Pillow: truncated), and
 * so, unless --lenient-jpeg, are libjpeg's other warnings (recoveries from
 * corrupt data); jpeg_finish_decompress reads up to EOI as Pillow does;
 * 12-bit and lossless JPEGs are "unsupported", not "corrupt". */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "internal.h"

typedef struct jerr_ctx {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    char msg[JMSG_LENGTH_MAX];
    int truncated, warning, unsupported;
} jerr_ctx;

static atomic_int lenient; /* --lenient-jpeg: corrupt-data warnings ignored, as Pillow does */

void pn_jpeg_set_lenient(int on) { atomic_store(&lenient, on ? 1 : 0); }

static void on_error_exit(j_common_ptr cinfo)
{
    jerr_ctx *e = (jerr_ctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->msg);
    /* valid JPEGs that libjpeg-turbo (8-bit, DCT) cannot decode */
    int code = cinfo->err->msg_code;
    e->unsupported = (code == JERR_BAD_PRECISION && cinfo->err->msg_parm.i[0] == 12) ||
                     code == JERR_SOF_UNSUPPORTED || code == JERR_NOT_COMPILED;
    /* (another precision, e.g. 3 bits, is not a valid DCT JPEG: corrupt) */
    longjmp(e->jb, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level)
{
    jerr_ctx *e = (jerr_ctx *)cinfo->err;
    if (level == -1 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        (*cinfo->err->format_message)(cinfo, e->msg);
        e->truncated = 1;
        longjmp(e->jb, 1);
    }
    /* other warnings are libjpeg's recoveries from corrupt data (Pillow
     * ignores them): errors unless --lenient-jpeg */
    if (level == -1 && !atomic_load(&lenient)) {
        (*cinfo->err->format_message)(cinfo, e->msg);
        e->warning = 1;
        longjmp(e->jb, 1);
    }
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

/* Pillow Convert.c cmyk2rgb after the "CMYK;I" unpacker (bytes inverted). */
#define MULDIV255(a, b, tmp) (tmp = (a) * (b) + 128, ((((tmp) >> 8) + (tmp)) >> 8))
static inline uint8_t clip8i(int v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v; }
static void cmyk_inverted_to_rgb(uint8_t *out, const uint8_t *in, int w)
{
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        int c = 255 - in[0], m = 255 - in[1], y = 255 - in[2], k = 255 - in[3], tmp;
        int nk = 255 - k;
        out[0] = clip8i(nk - MULDIV255(c, nk, tmp));
        out[1] = clip8i(nk - MULDIV255(m, nk, tmp));
        out[2] = clip8i(nk - MULDIV255(y, nk, tmp));
    }
}

/* Smallest M/8 (M = 1..8) keeping every reduced side >= 2 * target. */
static int fast_scale(long w, long h, int target)
{
    for (int m = 1; m < 8; m++) {
        long sw = (w * m + 7) / 8, sh = (h * m + 7) / 8;
        int ok_w = w <= target || sw >= 2L * target;
        int ok_h = h <= target || sh >= 2L * target;
        if (ok_w && ok_h) return m;
    }
    return 8;
}

pn_status pn__jpeg_decode(const uint8_t *buf, size_t n, const char *name, const pn_decode_opts *o,
                          pn_image *img, pn_error *err)
{
    struct jpeg_decompress_struct cinfo;
    jerr_ctx je;
    uint8_t *volatile row = NULL; /* CMYK row (w * 4) */
    memset(&je, 0, sizeof je);
    cinfo.err = jpeg_std_error(&je.mgr);
    je.mgr.error_exit = on_error_exit;
    je.mgr.emit_message = on_emit_message;
    je.mgr.output_message = on_output_message;
    if (setjmp(je.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        img->w = img->h = 0;
        if (je.truncated)
            return pn_error_set(err, PN_E_FORMAT, "%s: truncated JPEG (%s)", name, je.msg);
        if (je.unsupported)
            return pn_error_set(err, PN_E_UNSUPPORTED,
                                "%s: unsupported JPEG (%s): only 8-bit DCT JPEGs are decoded, as "
                                "in Pillow",
                                name, je.msg);
        if (je.warning)
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: corrupt JPEG (%s; --lenient-jpeg decodes it anyway, as "
                                "Pillow does)",
                                name, je.msg);
        return pn_error_set(err, PN_E_FORMAT, "%s: corrupt JPEG (%s)", name, je.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);

    const char *fmt = "JPEG";
    pn_status st = pn__check_dims((long)cinfo.image_width, (long)cinfo.image_height, o, name,
                                  fmt, err);
    if (st) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    int comps = cinfo.num_components, c;
    if (comps == 1) {
        cinfo.out_color_space = JCS_GRAYSCALE;
        c = 1;
    } else if (comps == 3) {
        cinfo.out_color_space = JCS_RGB;
        c = 3;
    } else if (comps == 4) {
        cinfo.out_color_space = JCS_CMYK;
        c = 3;
    } else {
        jpeg_destroy_decompress(&cinfo);
        return pn_error_set(err, PN_E_FORMAT, "%s: cannot handle %d-component JPEG", name, comps);
    }
    if (o && o->fast_decode) {
        int target = o->fast_target > 0 ? o->fast_target : PN_IMAGE_SIZE;
        cinfo.scale_num = (unsigned)fast_scale((long)cinfo.image_width,
                                               (long)cinfo.image_height, target);
        cinfo.scale_denom = 8;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    st = pn__image_alloc(img, w, h, c, name, err);
    if (st) {
        jpeg_destroy_decompress(&cinfo);
        return st;
    }
    if (comps == 4) {
        row = malloc((size_t)w * 4);
        if (!row) {
            jpeg_destroy_decompress(&cinfo);
            img->w = img->h = 0;
            return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", name);
        }
    }
    size_t stride = (size_t)w * (size_t)c;
    while (cinfo.output_scanline < cinfo.output_height) {
        JDIMENSION y = cinfo.output_scanline;
        if (comps == 4) {
            JSAMPROW r = row;
            jpeg_read_scanlines(&cinfo, &r, 1);
            cmyk_inverted_to_rgb(img->px + (size_t)y * stride, row, w);
        } else {
            JSAMPROW rows[4];
            int k;
            for (k = 0; k < 4 && y + (JDIMENSION)k < cinfo.output_height; k++)
                rows[k] = img->px + (size_t)(y + (JDIMENSION)k) * stride;
            jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)k);
        }
    }
    /* the rest of the file up to EOI, as Pillow reads it: a bad marker
     * there is an error (Pillow: "broken data stream") */
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    return PN_OK;
}

/* ---- a JPEG header check for GDCM --------------------------------------- */

typedef struct hdr_ctx {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
    int warned;
    char msg[JMSG_LENGTH_MAX];
} hdr_ctx;

static void hdr_error_exit(j_common_ptr cinfo) { longjmp(((hdr_ctx *)cinfo->err)->jb, 1); }

static void hdr_emit(j_common_ptr cinfo, int level)
{
    hdr_ctx *e = (hdr_ctx *)cinfo->err;
    if (level == -1 && !e->warned) {
        e->warned = 1;
        (*cinfo->err->format_message)(cinfo, e->msg);
    }
}

int pn__jpeg_header_warns(const uint8_t *buf, size_t n, char *msg, size_t msg_n)
{
    struct jpeg_decompress_struct cinfo;
    hdr_ctx e;
    memset(&e, 0, sizeof e);
    cinfo.err = jpeg_std_error(&e.mgr);
    e.mgr.error_exit = hdr_error_exit;
    e.mgr.emit_message = hdr_emit;
    e.mgr.output_message = on_output_message;
    if (setjmp(e.jb)) { /* an error: GDCM's decoder reports those itself */
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    jpeg_destroy_decompress(&cinfo);
    if (e.warned && msg) snprintf(msg, msg_n, "%s", e.msg);
    return e.warned;
}
