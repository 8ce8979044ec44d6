/* Class activation maps: weighted layer4 sum, bilinear upsampling and a jet
 * colour blend (the PNG writer is src/report/png.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/cam.h"

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
