/* torchvision ToTensor + Normalize(ImageNet) in float32, bit-exact with
 * PyTorch on CPU: ((float)u / 255.0f - mean[k]) / std[k] (IEEE division,
 * no contraction: this file is built with -ffp-contract=off). The 256
 * possible values per channel are computed once per call into a table. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const float pn_imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
const float pn_imagenet_std[3] = {0.229f, 0.224f, 0.225f};

static void make_lut(float lut[3][256])
{
    for (int k = 0; k < 3; k++)
        for (int u = 0; u < 256; u++) {
            float t = (float)u / 255.0f;
            t = t - pn_imagenet_mean[k];
            lut[k][u] = t / pn_imagenet_std[k];
        }
}

void pn_image_to_tensor(const pn_image *img, float *chw)
{
    float lut[3][256];
    make_lut(lut);
    size_t np = (size_t)img->w * (size_t)img->h;
    const uint8_t *p = img->px;
    for (int k = 0; k < 3; k++) {
        float *o = chw + (size_t)k * np;
        const float *l = lut[k];
        if (img->c == 1)
            for (size_t i = 0; i < np; i++) o[i] = l[p[i]];
        else
            for (size_t i = 0; i < np; i++) o[i] = l[p[3 * i + (size_t)k]];
    }
}

void pn_prep_scratch_free(pn_prep_scratch *s)
{
    if (!s) return;
    pn_image_free(&s->resized);
    free(s->tmp);
    memset(s, 0, sizeof *s);
}

pn_status pn_preprocess(const pn_image *img, int size, float *chw, uint8_t *hwc_rgb,
                        pn_prep_scratch *scratch, pn_error *err)
{
    pn_prep_scratch local = {0};
    pn_prep_scratch *s = scratch ? scratch : &local;
    if (!img || !img->px || img->w < 1 || img->h < 1)
        return pn_error_set(err, PN_E_ARG, "preprocess: empty image");
    if (size < 1 || size > 4096)
        return pn_error_set(err, PN_E_ARG, "preprocess: bad size %d", size);
    pn_status st = pn__resize(img, size, size, &s->resized, &s->tmp, &s->tmp_cap, err);
    if (!st) {
        if (chw) pn_image_to_tensor(&s->resized, chw);
        if (hwc_rgb) pn_image_to_rgb(&s->resized, hwc_rgb);
    }
    if (!scratch) pn_prep_scratch_free(&local);
    return st;
}
