/* --augment during training: the pn_fit_cfg.augment callback over the
 * in-memory base images (their normalized tensors) and pneumo/augment.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/app.h"

void pn_augment_items_init(pn_augment_items *a, const pn_augment *aug, int size)
{
    memset(a, 0, sizeof *a);
    a->aug = *aug;
    a->size = size;
    pn_augment_describe(aug, a->key, sizeof a->key);
}

void pn_augment_items_free(pn_augment_items *a)
{
    pn_image_free(&a->base);
    pn_image_free(&a->out);
    pn_image_free(&a->tmp);
}

pn_status pn_augment_items_run(void *ctx, pn_rng *g, float *item, pn_error *err)
{
    pn_augment_items *a = ctx;
    const int S = a->size;
    const size_t hw = (size_t)S * S;
    if (a->base.cap < hw * 3) {
        pn_image_free(&a->base);
        a->base.px = malloc(hw * 3);
        if (!a->base.px) return pn_error_set(err, PN_E_NOMEM, "augment: out of memory");
        a->base.cap = hw * 3;
    }
    a->base.w = a->base.h = S;
    a->base.c = 3;
    /* ((u / 255) - mean) / std in float32 -> u: the error is ~1e-5 of a step */
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < hw; i++) {
            double v = ((double)item[k * hw + i] * pn_imagenet_std[k] + pn_imagenet_mean[k]) * 255.0;
            long u = lround(v);
            a->base.px[i * 3 + k] = (uint8_t)(u < 0 ? 0 : u > 255 ? 255 : u);
        }
    pn_augment_params p;
    pn_augment_sample(&a->aug, g, S, S, &p);
    PN_TRY(pn_augment_apply(&a->aug, &p, &a->base, &a->out, &a->tmp, err));
    pn_image_to_tensor(&a->out, item);
    return PN_OK;
}
