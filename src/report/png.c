/* The 8-bit RGB PNG writer (libpng), written atomically. */
#include <png.h>
#include <setjmp.h>

#include "pneumo/report.h"
#include "pneumo/util.h"

static pn_status png_write(FILE *f, const uint8_t *rgb, int W, int H, const char *path,
                           pn_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return pn_error_set(err, PN_E_NOMEM, "%s: libpng: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return pn_error_set(err, PN_E_IO, "%s: libpng write failed", path);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)W, (png_uint_32)H, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < H; y++) png_write_row(png, (png_const_bytep)(rgb + (size_t)y * W * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return PN_OK;
}

pn_status pn_png_write_rgb(const char *path, const uint8_t *rgb, int W, int H, pn_error *err)
{
    if (W < 1 || H < 1) return pn_error_set(err, PN_E_ARG, "%s: empty image", path);
    pn_afile af;
    pn_status st = pn_afile_open(&af, path, err);
    if (st) return st;
    st = png_write(af.f, rgb, W, H, path, err);
    if (st) {
        pn_afile_abort(&af);
        return st;
    }
    return pn_afile_commit(&af, err);
}
