/* PNG decode with libpng, giving the pixels of Pillow 9.4's
 * Image.open(f).convert('RGB') (kept as L when the PNG is grayscale):
 *   gray 1/2/4/8-bit      -> L (1/2/4-bit scaled to 0..255, as "1"/"L;2"/"L;4")
 *   gray 16-bit           -> by pn_decode_opts.png16: scaled by the sBIT depth
 *                            (default), or Pillow mode "I" clipped to 0..255 (i2rgb)
 *   gray+alpha 8/16-bit   -> L, alpha dropped (16-bit: high byte)
 *   RGB / RGBA 8/16-bit   -> RGB, alpha dropped (16-bit: high byte)
 *   palette 1/2/4/8-bit   -> RGB through the palette (tRNS ignored; an index
 *                            beyond the PLTE gives (i, i, i), as in Pillow)
 * Gamma, sRGB and ICC chunks are not applied (Pillow does not either). */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "internal.h"

typedef struct png_src {
    const uint8_t *buf;
    size_t n, pos;
    char msg[256];
} png_src;

static void on_read(png_structp png, png_bytep out, png_size_t len)
{
    png_src *s = png_get_io_ptr(png);
    if (len > s->n - s->pos) {
        snprintf(s->msg, sizeof s->msg, "truncated PNG (file ends after %zu bytes)", s->n);
        png_error(png, s->msg);
    }
    memcpy(out, s->buf + s->pos, len);
    s->pos += len;
}

static void on_error(png_structp png, png_const_charp msg)
{
    png_src *s = png_get_error_ptr(png);
    if (msg != s->msg) snprintf(s->msg, sizeof s->msg, "corrupt PNG (%s)", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

pn_status pn__png_decode(const uint8_t *buf, size_t n, const char *name, const pn_decode_opts *o,
                         pn_image *img, pn_error *err)
{
    png_src src = {buf, n, 0, {0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, on_error, on_warning);
    if (!png) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory (libpng)", name);
    png_infop info = png_create_info_struct(png);
    uint8_t *volatile full = NULL;
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory (libpng)", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(full);
        free(rows);
        img->w = img->h = 0;
        return pn_error_set(err, PN_E_FORMAT, "%s: %s", name, src.msg);
    }
    png_set_read_fn(png, &src, on_read);
    /* our own pixel limit applies; lift libpng's 1e6 side limit to it */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), ctype = png_get_color_type(png, info);
    pn_status st = pn__check_dims((long)w, (long)h, o, name, "PNG", err);
    if (st) {
        png_destroy_read_struct(&png, &info, NULL);
        return st;
    }
    int gray16 = (ctype == PNG_COLOR_TYPE_GRAY && depth == 16);
    int clip = o && o->png16 == PN_PNG16_CLIP;
    unsigned top = 65535; /* the largest value of the sBIT depth */
    png_color_8p sbit = NULL;
    if (gray16 && png_get_sBIT(png, info, &sbit) && sbit && sbit->gray >= 1 && sbit->gray <= 16)
        top = (1u << sbit->gray) - 1;
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        /* indices beyond the PLTE: Pillow gives pixel i the colour (i, i, i)
         * (its palette starts as a grey ramp), libpng black: extend the
         * palette with that ramp */
        png_colorp pal = NULL;
        int np = 0;
        int cap = depth >= 8 ? 256 : 1 << depth;
        if (png_get_PLTE(png, info, &pal, &np) && np > 0 && np < cap) {
            png_color ext[256];
            memcpy(ext, pal, (size_t)np * sizeof *ext);
            for (int i = np; i < cap; i++) ext[i].red = ext[i].green = ext[i].blue = (png_byte)i;
            png_set_PLTE(png, info, ext, cap);
        }
        png_set_palette_to_rgb(png);
    }
    if ((ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !gray16) png_set_strip_16(png); /* high byte, as Pillow's ;16B */
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int ch = png_get_channels(png, info);
    size_t rb = png_get_rowbytes(png, info);
    int c = (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA) ? 1 : 3;
    if ((c == 1 && ch != 1 && ch != 2) || (c == 3 && ch != 3 && ch != 4) ||
        rb != (size_t)w * (size_t)ch * (gray16 ? 2 : 1)) {
        png_destroy_read_struct(&png, &info, NULL);
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "%s: unsupported PNG layout (color type %d, %d bits)", name, ctype,
                            depth);
    }
    if ((double)rb * (double)h > 1e12) {
        png_destroy_read_struct(&png, &info, NULL);
        return pn_error_set(err, PN_E_NOMEM, "%s: PNG of %ux%u is too large", name, w, h);
    }
    full = malloc(rb * h);
    rows = malloc(sizeof(png_bytep) * h);
    if (!full || !rows) {
        png_destroy_read_struct(&png, &info, NULL);
        free(full);
        free(rows);
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory for a %ux%u PNG", name, w, h);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = full + (size_t)y * rb;
    png_read_image(png, rows);
    png_destroy_read_struct(&png, &info, NULL);

    st = pn__image_alloc(img, (int)w, (int)h, c, name, err);
    if (st) {
        free(full);
        free(rows);
        return st;
    }
    for (png_uint_32 y = 0; y < h; y++) {
        const uint8_t *in = rows[y];
        uint8_t *out = img->px + (size_t)y * w * (size_t)c;
        if (gray16 && clip) {
            for (png_uint_32 x = 0; x < w; x++) {
                unsigned v = ((unsigned)in[2 * x] << 8) | in[2 * x + 1];
                img->png16_clipped |= v > 255;
                out[x] = v >= 255 ? 255 : (uint8_t)v; /* Pillow i2rgb clip */
            }
        } else if (gray16) {
            for (png_uint_32 x = 0; x < w; x++) {
                unsigned v = ((unsigned)in[2 * x] << 8) | in[2 * x + 1];
                out[x] = v >= top ? 255 : (uint8_t)((v * 510u + top) / (2u * top));
            }
        } else if (ch == c) {
            memcpy(out, in, (size_t)w * (size_t)c);
        } else {
            for (png_uint_32 x = 0; x < w; x++)
                for (int k = 0; k < c; k++) out[x * (size_t)c + k] = in[x * (size_t)ch + k];
        }
    }
    free(full);
    free(rows);
    if (gray16) img->png16 = clip ? PN_PNG16_CLIP : PN_PNG16_SCALE;
    return PN_OK;
}
