/* The 8-bit RGB PNG writer (libpng) for CAM overlays: written into a
 * pn_afile with every write checked, so a full disk leaves no truncated PNG
 * and the error names the file. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include "pneumo/report.h"
#include "pneumo/util.h"

typedef struct png_out {
    FILE *f;
    int err;        /* errno of the first failed write */
    char msg[256];  /* libpng's own error message */
} png_out;

static void on_write(png_structp png, png_bytep data, size_t n)
{
    png_out *o = png_get_io_ptr(png);
    errno = 0;
    if (fwrite(data, 1, n, o->f) != n) {
        o->err = errno ? errno : EIO;
        png_error(png, "write failed");
    }
}

static void on_flush(png_structp png) { (void)png; }

static void on_error(png_structp png, png_const_charp msg)
{
    png_out *o = png_get_error_ptr(png);
    snprintf(o->msg, sizeof o->msg, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static pn_status png_write(png_out *o, const uint8_t *rgb, int W, int H, const char *path,
                           pn_error *err)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, o, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        return pn_error_set(err, PN_E_NOMEM, "%s: libpng: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        if (o->err) return pn_error_set(err, PN_E_IO, "%s: write failed: %s", path, strerror(o->err));
        return pn_error_set(err, PN_E_BACKEND, "%s: libpng: %s", path, o->msg);
    }
    png_set_write_fn(png, o, on_write, on_flush);
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
    if (!path || !rgb || W < 1 || H < 1 || W > 1000000 || H > 1000000)
        return pn_error_set(err, PN_E_ARG, "%s: bad image (%dx%d)", path ? path : "PNG", W, H);
    pn_afile af;
    pn_status st = pn_afile_open(&af, path, err);
    if (st) return st;
    png_out o = {af.f, 0, ""};
    st = png_write(&o, rgb, W, H, path, err);
    if (st) {
        pn_afile_abort(&af);
        return st;
    }
    return pn_afile_commit(&af, err);
}
