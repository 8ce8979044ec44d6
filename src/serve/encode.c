/* pneumo serve: PNG into memory (libpng with a write callback). */
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "serve/serve.h"

typedef pn__iobuf membuf;

static void mem_write(png_structp png, png_bytep data, png_size_t len)
{
    pn__iobuf_put(png_get_io_ptr(png), data, len);
}

static void mem_flush(png_structp png) { (void)png; }

pn_status pn__png_encode(const uint8_t *px, int w, int h, int channels, uint8_t **out,
                         size_t *out_n, pn_error *err)
{
    *out = NULL;
    *out_n = 0;
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3 && channels != 4))
        return pn_error_set(err, PN_E_ARG, "PNG: bad image %dx%dx%d", w, h, channels);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return pn_error_set(err, PN_E_NOMEM, "PNG: out of memory");
    }
    /* volatile: modified between setjmp and a longjmp back into it */
    membuf m_ = {0};
    membuf *volatile m = &m_;
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(m->p);
        return pn_error_set(err, PN_E_BACKEND, "PNG: libpng failed to encode %dx%d", w, h);
    }
    png_set_write_fn(png, m, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 channels == 4   ? PNG_COLOR_TYPE_RGBA
                 : channels == 3 ? PNG_COLOR_TYPE_RGB
                                 : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++)
        png_write_row(png, (png_const_bytep)(px + (size_t)y * w * channels));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (m->oom) {
        free(m->p);
        return pn_error_set(err, PN_E_NOMEM, "PNG: out of memory");
    }
    *out = m->p;
    *out_n = m->n;
    return PN_OK;
}
