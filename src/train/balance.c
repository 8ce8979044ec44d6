/* Class balance: inverse-frequency loss weights and balanced sampling. */
#include <stdlib.h>
#include <string.h>

#include "pneumo/train.h"

pn_status pn_balance_parse(const char *s, pn_balance *out, pn_error *err)
{
    if (!strcmp(s, "weight")) *out = PN_BALANCE_WEIGHT;
    else if (!strcmp(s, "sample")) *out = PN_BALANCE_SAMPLE;
    else if (!strcmp(s, "none")) *out = PN_BALANCE_NONE;
    else return pn_error_set(err, PN_E_ARG, "--balance wants weight, sample or none, not '%s'", s);
    return PN_OK;
}

const char *pn_balance_name(pn_balance b)
{
    return b == PN_BALANCE_WEIGHT ? "weight" : b == PN_BALANCE_SAMPLE ? "sample" : "none";
}

static pn_status count_classes(const int *label, size_t n, int classes, size_t *cnt, pn_error *err)
{
    if (classes < 2 || classes > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_ARG, "class balance: %d classes (need 2 to %d)", classes,
                            PN_MAX_CLASSES);
    memset(cnt, 0, (size_t)classes * sizeof *cnt);
    for (size_t i = 0; i < n; i++) {
        if (label[i] < 0 || label[i] >= classes)
            return pn_error_set(err, PN_E_ARG, "class balance: label %d of item %zu out of range",
                                label[i], i);
        cnt[label[i]]++;
    }
    for (int c = 0; c < classes; c++)
        if (!cnt[c])
            return pn_error_set(err, PN_E_ARG,
                                "class %d has no training images: every class needs some", c);
    return PN_OK;
}

pn_status pn_class_weights(const int *label, size_t n, int classes, float *w, pn_error *err)
{
    size_t cnt[PN_MAX_CLASSES];
    pn_status st = count_classes(label, n, classes, cnt, err);
    if (st) return st;
    for (int c = 0; c < classes; c++)
        w[c] = (float)((double)n / ((double)classes * (double)cnt[c]));
    return PN_OK;
}

pn_status pn_balanced_sample(pn_rng *g, const int *label, size_t n, int classes, int64_t *out,
                             pn_error *err)
{
    size_t cnt[PN_MAX_CLASSES];
    pn_status st = count_classes(label, n, classes, cnt, err);
    if (st) return st;
    /* items of each class, in order */
    size_t *items = malloc(n * sizeof *items), start[PN_MAX_CLASSES + 1] = {0};
    if (!items) return pn_error_set(err, PN_E_NOMEM, "balanced sampling: out of memory");
    for (int c = 0; c < classes; c++) start[c + 1] = start[c] + cnt[c];
    size_t fill[PN_MAX_CLASSES];
    memcpy(fill, start, sizeof fill);
    for (size_t i = 0; i < n; i++) items[fill[label[i]]++] = i;
    for (size_t k = 0; k < n; k++) {
        int c = (int)(pn_rng_u32(g) % (uint32_t)classes);
        size_t j = pn_rng_u32(g) % (uint32_t)cnt[c];
        out[k] = (int64_t)items[start[c] + j];
    }
    free(items);
    return PN_OK;
}
