/* pn__optim_step (Adam) runs 16 lanes at a time with AVX-512 where the CPU has it;
 * it must stay bit-identical to torch 1.13's scalar float arithmetic
 * (_single_tensor_adam: exp_avg.mul_(b1).add_(g, alpha=1-b1) as one fma,
 * exp_avg_sq.mul_(b2).addcmul_(g, g, value=1-b2), denom = sqrt(v)/sqrt(bc2)
 * + eps, p.addcdiv_(m, denom, value=-lr/bc1)), written out here element by
 * element. Odd counts exercise the scalar tail; special gradients (zero,
 * tiny, huge, subnormal) the corners. test_model.c checks the same op
 * against torch.optim.Adam itself. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "testutil.h"

static void ref_step(size_t n, float *p, const float *g, float *m, float *v, long step,
                     double lr)
{
    double bc1 = 1.0 - pow(0.9, (double)step), bc2 = 1.0 - pow(0.999, (double)step);
    float ss = (float)(-(lr / bc1)), bs = (float)sqrt(bc2);
    for (size_t i = 0; i < n; i++) {
        float mi = fmaf(g[i], (float)(1.0 - 0.9), m[i] * 0.9f);
        float vi = v[i] * 0.999f;
        vi = vi + ((float)(1.0 - 0.999) * g[i]) * g[i];
        float d = sqrtf(vi) / bs + 1e-8f;
        p[i] = p[i] + (ss * mi) / d;
        m[i] = mi;
        v[i] = vi;
    }
}

static void test_bit_identical(void **state)
{
    (void)state;
    size_t counts[] = {1, 15, 16, 17, 1003, 4096 + 7};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        size_t n = counts[c];
        float *a[4], *b[4];
        for (int k = 0; k < 4; k++) {
            a[k] = malloc(n * sizeof(float));
            b[k] = malloc(n * sizeof(float));
        }
        uint64_t s = 99 + n;
        for (size_t i = 0; i < n; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            float u = (float)(s >> 40) / 16777216.0f - 0.5f;
            a[0][i] = u;               /* p */
            a[2][i] = a[3][i] = 0.0f;  /* m, v */
        }
        memcpy(b[0], a[0], n * sizeof(float));
        float *p0 = malloc(n * sizeof(float));
        memcpy(p0, a[0], n * sizeof(float));
        memset(b[2], 0, n * sizeof(float));
        memset(b[3], 0, n * sizeof(float));
        for (long step = 1; step <= 4; step++) {
            for (size_t i = 0; i < n; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                float u = (float)(s >> 40) / 16777216.0f - 0.5f;
                static const float special[] = {0.0f, 1e-30f, -1e-42f, 3e5f, -7e-3f};
                a[1][i] = i % 7 == 3 ? special[(i / 7 + (size_t)step) % 5] : u * 1e-2f;
            }
            memcpy(b[1], a[1], n * sizeof(float));
            pn__optim_step(&(pn_optim){0}, 3e-3, step, n, a[0], a[1], a[2], a[3]);
            ref_step(n, b[0], b[1], b[2], b[3], step, 3e-3);
            for (int k = 0; k < 4; k++)
                if (memcmp(a[k], b[k], n * sizeof(float))) {
                    size_t i = 0;
                    while (!memcmp(&a[k][i], &b[k][i], sizeof(float))) i++;
                    fail_msg("count %zu step %ld array %d [%zu]: %.9g, scalar %.9g", n, step, k,
                             i, a[k][i], b[k][i]);
                }
        }
        /* and the updates moved the parameters */
        size_t moved = 0;
        for (size_t i = 0; i < n; i++) moved += a[0][i] != p0[i];
        assert_true(moved * 2 >= n);
        free(p0);
        for (int k = 0; k < 4; k++) {
            free(a[k]);
            free(b[k]);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_bit_identical)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
