/* Class activation maps: weighted layer4 sum, bilinear upsampling, a jet
 * colour blend, and an atomic PNG writer (libpng). */
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/cam.h"
#include "pneumo/util.h"

void pn_cam_compute(const float *act, int k, int h, int w, const float *wc, float *cam)
{
    // act (K,h,w), wc (K) -> cam (h,w)
    size_t hw = (size_t)h * w;
    for (size_t p = 0; p < hw; p++) cam[p] = 0.0f;
    for (int c = 0; c < k; c++) {
        const float *a = act + (size_t)c * hw;
        for (size_t p = 0; p < hw; p++) cam[p] += wc[c] * a[p];
    }
    float mx = 0.0f;
    for (size_t p = 0; p < hw; p++) {
        if (!(cam[p] > 0.0f)) cam[p] = 0.0f; /* ReLU (NaN -> 0) */
        if (cam[p] > mx) mx = cam[p];
    }
    if (mx > 0.0f)
        for (size_t p = 0; p < hw; p++) cam[p] /= mx;
}

void pn_resize_bilinear(const float *src, int h, int w, float *dst, int H, int W)
{
    const float sy = (float)h / (float)H, sx = (float)w / (float)W;
    for (int y = 0; y < H; y++) {
        float fy = ((float)y + 0.5f) * sy - 0.5f;
        if (fy < 0) fy = 0;
        int y0 = (int)fy, y1 = y0 + 1 < h ? y0 + 1 : h - 1;
        float ly = fy - (float)y0;
        for (int x = 0; x < W; x++) {
            float fx = ((float)x + 0.5f) * sx - 0.5f;
            if (fx < 0) fx = 0;
            int x0 = (int)fx, x1 = x0 + 1 < w ? x0 + 1 : w - 1;
            float lx = fx - (float)x0;
            float top = src[y0 * w + x0] * (1 - lx) + src[y0 * w + x1] * lx;
            float bot = src[y1 * w + x0] * (1 - lx) + src[y1 * w + x1] * lx;
            dst[(size_t)y * W + x] = top * (1 - ly) + bot * ly;
        }
    }
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

void pn_jet(float v, uint8_t rgb[3])
{
    v = clamp01(v);
    rgb[0] = (uint8_t)lrintf(255 * clamp01(1.5f - fabsf(4 * v - 3)));
    rgb[1] = (uint8_t)lrintf(255 * clamp01(1.5f - fabsf(4 * v - 2)));
    rgb[2] = (uint8_t)lrintf(255 * clamp01(1.5f - fabsf(4 * v - 1)));
}

pn_status pn_cam_overlay(const float *cam, int h, int w, const uint8_t *img, int H, int W,
                         int channels, float alpha, uint8_t *out, pn_error *err)
{
    if (h < 1 || w < 1 || H < 1 || W < 1 || (channels != 1 && channels != 3))
        return pn_error_set(err, PN_E_ARG, "CAM overlay: bad sizes %dx%d -> %dx%dx%d", h, w, H,
                            W, channels);
    float *m = malloc((size_t)H * W * sizeof *m);
    if (!m) return pn_error_set(err, PN_E_NOMEM, "CAM overlay: out of memory for %dx%d", W, H);
    pn_resize_bilinear(cam, h, w, m, H, W);
    for (size_t p = 0; p < (size_t)H * W; p++) {
        uint8_t jet[3];
        float a = alpha * clamp01(m[p]);
        pn_jet(m[p], jet);
        for (int c = 0; c < 3; c++) {
            float v = img[p * channels + (channels == 3 ? c : 0)];
            out[p * 3 + c] = (uint8_t)lrintf((1 - a) * v + a * jet[c]);
        }
    }
    free(m);
    return PN_OK;
}

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
