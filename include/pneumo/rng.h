/* pneumo: PyTorch's CPU random generator (mt19937), bit for bit.
 *
 * With the same seed these give the same numbers as PyTorch 1.13 on CPU:
 *
 *     torch.manual_seed(S)                 pn_rng_seed(&g, S)
 *     nn.Linear(512, 2)                    pn_rng_linear_init(&g, w, b, 2, 512)
 *     torch.randperm(n, generator=g)       pn_rng_randperm(&g, n, perm)
 *     DataLoader(ds, shuffle=True) epoch   pn_rng_sampler_epoch(&g, n, perm)
 *
 * The generator is the 32-bit Mersenne Twister (std::mt19937 stream) seeded
 * with the low 32 bits of the seed. Floats: uniform_(from, to) on a float
 * tensor takes one 32-bit draw per element, keeps its low 24 bits and maps
 * them to x = bits * 2^-24, then (float)(x * (to - from) + from) in double
 * with from/to rounded to float first.
 */
#ifndef PNEUMO_RNG_H
#define PNEUMO_RNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PN_MT_N 624

typedef struct pn_rng {
    uint32_t state[PN_MT_N];
    int left;      /* draws left before the next regeneration */
    uint64_t seed; /* as given to pn_rng_seed */
} pn_rng;

void pn_rng_seed(pn_rng *g, uint64_t seed);
/* generator->random(): one 32-bit output */
uint32_t pn_rng_u32(pn_rng *g);
/* generator->random64(): two draws, the first is the high half */
uint64_t pn_rng_u64(pn_rng *g);
/* tensor.uniform_(from, to) on n float32 elements (from/to as Python floats) */
void pn_rng_uniform(pn_rng *g, float *x, size_t n, double from, double to);
/* tensor.normal_(mean, std) on n >= 16 float32 elements as torch 1.13's
 * scalar normal_fill: n uniforms (24 bits each), then Box-Muller over blocks
 * of 16 (u1 = 1 - d[j], u2 = d[j+8], j < 8; float logf/cosf/sinf), the last
 * 16 redrawn when n % 16 != 0. On AVX2 CPUs torch itself runs a vectorised
 * (Sleef) variant of the same transform whose values differ in the last
 * bits, so only the distribution, not every value, is torch's there. n < 16
 * uses a plain double Box-Muller (not torch's stream). */
void pn_rng_normal(pn_rng *g, float *x, size_t n, double mean, double std);
/* nn.Linear(in, out) default init: weight (out,in) then bias (out), each
 * U(-1/sqrt(in), 1/sqrt(in)) as kaiming_uniform_(a=sqrt(5)) computes it. */
void pn_rng_linear_init(pn_rng *g, float *w, float *b, int out, int in);
/* torch.randperm(n, generator=g) (CPU, n < 2^24) */
void pn_rng_randperm(pn_rng *g, size_t n, int64_t *perm);
/* One epoch of DataLoader(shuffle=True) without its own generator: the
 * iterator first draws its _base_seed (one random64), then RandomSampler
 * seeds a fresh generator from random_() of the global one (random64() mod
 * 2^63) and takes randperm(n) from it. */
void pn_rng_sampler_epoch(pn_rng *g, size_t n, int64_t *perm);

#ifdef __cplusplus
}
#endif
#endif
