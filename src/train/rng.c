/* PyTorch's CPU generator (at::mt19937 + the uniform/randperm transforms). */
#include <math.h>

#include "pneumo/rng.h"

#define MT_M 397
#define MATRIX_A 0x9908b0dfU
#define UPPER 0x80000000U
#define LOWER 0x7fffffffU

void pn_rng_seed(pn_rng *g, uint64_t seed)
{
    g->seed = seed;
    g->state[0] = (uint32_t)(seed & 0xffffffffU);
    for (int j = 1; j < PN_MT_N; j++)
        g->state[j] = 1812433253U * (g->state[j - 1] ^ (g->state[j - 1] >> 30)) + (uint32_t)j;
    g->left = 0; /* regenerate on the first draw */
}

static void regenerate(pn_rng *g)
{
    uint32_t *s = g->state;
    for (int i = 0; i < PN_MT_N; i++) {
        uint32_t y = (s[i] & UPPER) | (s[(i + 1) % PN_MT_N] & LOWER);
        s[i] = s[(i + MT_M) % PN_MT_N] ^ (y >> 1) ^ ((y & 1U) ? MATRIX_A : 0U);
    }
    g->left = PN_MT_N;
}

uint32_t pn_rng_u32(pn_rng *g)
{
    if (g->left == 0) regenerate(g);
    uint32_t y = g->state[PN_MT_N - g->left--];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680U;
    y ^= (y << 15) & 0xefc60000U;
    y ^= y >> 18;
    return y;
}

uint64_t pn_rng_u64(pn_rng *g)
{
    uint64_t hi = pn_rng_u32(g), lo = pn_rng_u32(g);
    return (hi << 32) | lo;
}

void pn_rng_uniform(pn_rng *g, float *x, size_t n, double from, double to)
{
    /* from/to are rounded to float first; the affine map runs in double
     * (checked bit for bit against torch 1.13's CPU kernel) */
    const double f = (double)(float)from, t = (double)(float)to;
    for (size_t i = 0; i < n; i++) {
        double u = (double)(pn_rng_u32(g) & ((1U << 24) - 1)) * (1.0 / 16777216.0);
        x[i] = (float)(u * (t - f) + f);
    }
}

/* eight Box-Muller pairs over 16 uniforms, torch 1.13's normal_fill_16 in float */
static void normal_fill_16(float *d, float mean, float std)
{
    for (int j = 0; j < 8; j++) {
        const float u1 = 1 - d[j], u2 = d[j + 8];
        const float radius = sqrtf(-2 * logf(u1));
        const float theta = (float)(2.0f * 3.14159265358979323846 * u2);
        d[j] = radius * cosf(theta) * std + mean;
        d[j + 8] = radius * sinf(theta) * std + mean;
    }
}

void pn_rng_normal(pn_rng *g, float *x, size_t n, double mean, double std)
{
    const float m = (float)mean, s = (float)std;
    if (n < 16) { /* (torch draws these from a double Box-Muller; not ported) */
        for (size_t i = 0; i < n; i++) {
            double u1 = 1.0 - (double)(pn_rng_u32(g) & ((1U << 24) - 1)) / 16777216.0;
            double u2 = (double)(pn_rng_u32(g) & ((1U << 24) - 1)) / 16777216.0;
            x[i] = (float)(sqrt(-2 * log(u1)) * cos(2 * 3.14159265358979323846 * u2) * std + mean);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) x[i] = (float)(pn_rng_u32(g) & ((1U << 24) - 1)) / 16777216.0f;
    for (size_t i = 0; i + 16 <= n; i += 16) normal_fill_16(x + i, m, s);
    if (n % 16) { /* the last 16 values again, from fresh uniforms */
        float *d = x + n - 16;
        for (int i = 0; i < 16; i++) d[i] = (float)(pn_rng_u32(g) & ((1U << 24) - 1)) / 16777216.0f;
        normal_fill_16(d, m, s);
    }
}

void pn_rng_linear_init(pn_rng *g, float *w, float *b, int out, int in)
{
    /* torch.nn.init.kaiming_uniform_(w, a=sqrt(5)), in Python doubles */
    double a = sqrt(5.0);
    double gain = sqrt(2.0 / (1.0 + a * a));
    double stdv = gain / sqrt((double)in);
    double bound = sqrt(3.0) * stdv;
    pn_rng_uniform(g, w, (size_t)out * (size_t)in, -bound, bound);
    double bb = 1.0 / sqrt((double)in);
    pn_rng_uniform(g, b, (size_t)out, -bb, bb);
}

void pn_rng_randperm(pn_rng *g, size_t n, int64_t *perm)
{
    for (size_t i = 0; i < n; i++) perm[i] = (int64_t)i;
    for (size_t i = 0; i + 1 < n; i++) {
        size_t z = (size_t)(pn_rng_u32(g) % (uint32_t)(n - i));
        int64_t t = perm[i];
        perm[i] = perm[z + i];
        perm[z + i] = t;
    }
}

void pn_rng_sampler_epoch(pn_rng *g, size_t n, int64_t *perm)
{
    (void)pn_rng_u64(g); /* the DataLoader iterator's _base_seed (worker seeds) */
    uint64_t seed = pn_rng_u64(g) % (UINT64_C(1) << 63);
    pn_rng local;
    pn_rng_seed(&local, seed);
    pn_rng_randperm(&local, n, perm);
}
