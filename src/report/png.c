/* The one libpng writer: an 8-bit gray, RGB or RGBA image into memory (the
 * server's heatmaps and previews), and pn_png_write_rgb's RGB file, written
 * atomically from those bytes so a full disk leaves no truncated PNG and the
 * error names the file. (The figures are cairo's: src/report/plot.c.) */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/buf.h"
#include "pneumo/report.h"
#include "pneumo/util.h"
#include "report/png.h"

typedef struct png_sink {
    pn__iobuf buf;
    char msg[256]; /* libpng's own error message */
} png_sink;

static void on_write(png_structp png, png_bytep data, size_t n)
{
    png_sink *o = png_get_io_ptr(png);
    pn__iobuf_put(&o->buf, data, n);
    if (o->buf.oom) png_error(png, "out of memory");
}

static void on_flush(png_structp png) { (void)png; }

static void on_error(png_structp png, png_const_charp msg)
{
    png_sink *o = png_get_error_ptr(png);
    snprintf(o->msg, sizeof o->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

pn_status pn__png_encode(const uint8_t *px, int w, int h, int channels, uint8_t **out,
                         size_t *out_n, pn_error *err)
{
    *out = NULL;
    *out_n = 0;
    if (!px || w < 1 || h < 1 || w > 1000000 || h > 1000000 ||
        (channels != 1 && channels != 3 && channels != 4))
        return pn_error_set(err, PN_E_ARG, "PNG: bad image %dx%dx%d", w, h, channels);
    /* volatile: modified between setjmp and a longjmp back into it */
    png_sink o_ = {{0}, ""};
    png_sink *volatile o = &o_;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, o, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return pn_error_set(err, PN_E_NOMEM, "PNG: libpng: out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(o->buf.p);
        if (o->buf.oom) return pn_error_set(err, PN_E_NOMEM, "PNG: out of memory");
        return pn_error_set(err, PN_E_BACKEND, "PNG: libpng failed to encode %dx%d: %s", w, h,
                            o->msg);
    }
    png_set_write_fn(png, o, on_write, on_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 4   ? PNG_COLOR_TYPE_RGBA
                 : channels == 3 ? PNG_COLOR_TYPE_RGB
                                 : PNG_COLOR_TYPE_GRAY,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(px + (size_t)y * (size_t)w * (size_t)channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    *out = o->buf.p;
    *out_n = o->buf.n;
    return PN_OK;
}

pn_status pn_png_write_rgb(const char *path, const uint8_t *rgb, int W, int H, pn_error *err)
{
    if (!path || !rgb || W < 1 || H < 1 || W > 1000000 || H > 1000000)
        return pn_error_set(err, PN_E_ARG, "%s: bad image (%dx%d)", path ? path : "PNG", W, H);
    uint8_t *png;
    size_t n;
    pn_status st = pn__png_encode(rgb, W, H, 3, &png, &n, err);
    if (st) {
        pn_error_prefix(err, "%s: ", path);
        return st;
    }
    st = pn_write_file_atomic(path, png, n, err);
    free(png);
    return st;
}
