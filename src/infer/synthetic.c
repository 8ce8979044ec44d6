/* Synthetic, deterministic ResNet-18 weights with torchvision names, for the
 * benchmarks and the tests. The same counter-based generator is written in
 * tests/pytorch/make_infer_fixtures.py (gen_tensor), which feeds these exact
 * float32 values to torchvision; keep the two in step. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "infer/synthetic.h"

#define SYN_SEED UINT64_C(0x5EED2026)

static uint64_t fnv1a64(const char *s)
{
    uint64_t h = UINT64_C(0xCBF29CE484222325);
    for (; *s; s++) h = (h ^ (uint8_t)*s) * UINT64_C(0x100000001B3);
    return h;
}

static uint64_t splitmix64(uint64_t z)
{
    z += UINT64_C(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

void pn__synthetic_fill(const char *name, int ndim, const int64_t *shape, float *v, size_t n)
{
    uint64_t base = fnv1a64(name) ^ SYN_SEED;
    int one_plus = ends_with(name, ".weight") || ends_with(name, ".running_var");
    float scale = 0;
    if (!strncmp(name, "input", 5)) scale = 2.0f;
    else if (!strncmp(name, "fc.", 3)) scale = (float)(1.0 / sqrt(512.0));
    else if (ndim == 4) scale = (float)sqrt(6.0 / (double)(shape[1] * shape[2] * shape[3]));
    for (size_t i = 0; i < n; i++) {
        float u = (float)(splitmix64(base + i) >> 40) * 0x1p-24f; // exact, [0, 1)
        float t = u * 2.0f - 1.0f;                                 // exact, [-1, 1)
        if (scale != 0) v[i] = t * scale;
        else if (one_plus) v[i] = 0.5f + u; // bn weight, running_var
        else v[i] = 0.2f * t;               // bn bias, running_mean
    }
}

static pn_status add(pn_statedict *sd, const char *name, int ndim, int64_t a, int64_t b,
                     int64_t c, int64_t d, pn_error *err)
{
    int64_t shape[4] = {a, b, c, d};
    pn_tensor *t;
    pn_status st = pn_statedict_add(sd, name, PN_F32, ndim, shape, NULL, &t, err);
    if (st == PN_OK) pn__synthetic_fill(name, ndim, shape, t->data, t->numel);
    return st;
}

static pn_status add_convbn(pn_statedict *sd, const char *conv, const char *bn, int oc, int ic,
                            int k, pn_error *err)
{
    char key[96];
    snprintf(key, sizeof key, "%s.weight", conv);
    pn_status st = add(sd, key, 4, oc, ic, k, k, err);
    static const char *const part[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; st == PN_OK && i < 4; i++) {
        snprintf(key, sizeof key, "%s.%s", bn, part[i]);
        st = add(sd, key, 1, oc, 0, 0, 0, err);
    }
    snprintf(key, sizeof key, "%s.num_batches_tracked", bn);
    if (st == PN_OK) st = pn_statedict_add(sd, key, PN_I64, 0, NULL, NULL, NULL, err);
    return st;
}

pn_status pn__resnet18_synthetic(pn_statedict *sd, int num_classes, pn_error *err)
{
    if (num_classes < 1 || num_classes > (1 << 20))
        return pn_error_set(err, PN_E_ARG, "synthetic ResNet-18: num_classes %d is not in 1..%d",
                            num_classes, 1 << 20);
    pn_statedict_init(sd);
    pn_status st = add_convbn(sd, "conv1", "bn1", 64, 3, 7, err);
    int cin = 64;
    for (int L = 1; L <= 4; L++)
        for (int B = 0; B < 2; B++) {
            int C = 64 << (L - 1);
            char c[64], b[64];
            snprintf(c, sizeof c, "layer%d.%d.conv1", L, B);
            snprintf(b, sizeof b, "layer%d.%d.bn1", L, B);
            if (st == PN_OK) st = add_convbn(sd, c, b, C, cin, 3, err);
            snprintf(c, sizeof c, "layer%d.%d.conv2", L, B);
            snprintf(b, sizeof b, "layer%d.%d.bn2", L, B);
            if (st == PN_OK) st = add_convbn(sd, c, b, C, C, 3, err);
            if (st == PN_OK && L > 1 && B == 0) {
                snprintf(c, sizeof c, "layer%d.0.downsample.0", L);
                snprintf(b, sizeof b, "layer%d.0.downsample.1", L);
                st = add_convbn(sd, c, b, C, cin, 1, err);
            }
            cin = C;
        }
    if (st == PN_OK) st = add(sd, "fc.weight", 2, num_classes, 512, 0, 0, err);
    if (st == PN_OK) st = add(sd, "fc.bias", 1, num_classes, 0, 0, 0, err);
    if (st != PN_OK) pn_statedict_free(sd);
    return st;
}
