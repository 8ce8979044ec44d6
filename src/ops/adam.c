/* Adam as torch 1.13 computes it (plain C, with a bit-identical AVX-512
 * path). */
#include <math.h>
#include <stddef.h>

#include "ops/ops.h"

/* torch 1.13 _single_tensor_adam, per element, float tensors, Python-float
 * hyper-parameters:
 *   exp_avg.mul_(b1).add_(g, alpha=1-b1)      m = fma(g, (float)(1-b1), m*(float)b1)
 *   exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)  v = v*(float)b2 + ((float)(1-b2)*g)*g
 *   bc1 = 1 - b1**t, bc2 = 1 - b2**t           (double)
 *   step_size = lr / bc1                       (double)
 *   denom = (v.sqrt() / sqrt(bc2)).add_(eps)   float ops, scalars rounded to float
 *   p.addcdiv_(m, denom, value=-step_size)     p + ((float)(-step_size)*m)/denom
 * (the vectorised add_ with alpha is a fused multiply-add in PyTorch's CPU kernel) */
/* Adam's per-element update (torch 1.13 _single_tensor_adam roundings). */
typedef struct adam_k {
    float step_size, bc2_sqrt, b1, one_b1, b2, one_b2, eps;
} adam_k;

static void adam_scalar(size_t i0, size_t count, float *p, const float *g, float *m, float *v,
                        const adam_k *k)
{
    for (size_t i = i0; i < count; i++) {
        float gi = g[i];
        float mi = fmaf(gi, k->one_b1, m[i] * k->b1);
        float vi = v[i] * k->b2;
        vi = vi + (k->one_b2 * gi) * gi;
        float denom = sqrtf(vi) / k->bc2_sqrt + k->eps;
        p[i] = p[i] + (k->step_size * mi) / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* The same operations 16 lanes at a time: each is IEEE-exact (fma, mul,
 * add, div, sqrt; no contraction under -std=c17), so the result is bit for
 * bit the scalar one. Returns how many elements it did. */
__attribute__((target("avx512f"))) static size_t adam_avx512(size_t count, float *p,
                                                              const float *g, float *m, float *v,
                                                              const adam_k *k)
{
    const __m512 step = _mm512_set1_ps(k->step_size), bc2 = _mm512_set1_ps(k->bc2_sqrt);
    const __m512 b1 = _mm512_set1_ps(k->b1), ob1 = _mm512_set1_ps(k->one_b1);
    const __m512 b2 = _mm512_set1_ps(k->b2), ob2 = _mm512_set1_ps(k->one_b2);
    const __m512 eps = _mm512_set1_ps(k->eps);
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        __m512 gi = _mm512_loadu_ps(g + i);
        __m512 mi = _mm512_fmadd_ps(gi, ob1, _mm512_mul_ps(_mm512_loadu_ps(m + i), b1));
        __m512 vi = _mm512_mul_ps(_mm512_loadu_ps(v + i), b2);
        vi = _mm512_add_ps(vi, _mm512_mul_ps(_mm512_mul_ps(ob2, gi), gi));
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), bc2), eps);
        __m512 pi = _mm512_add_ps(_mm512_loadu_ps(p + i),
                                  _mm512_div_ps(_mm512_mul_ps(step, mi), denom));
        _mm512_storeu_ps(p + i, pi);
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
    }
    return i;
}
#endif

void pn__adam_step(size_t count, float *p, const float *g, float *m, float *v, long step,
                  const pn__adam_config *cfg)
{
    double b1 = cfg->beta1 > 0 ? cfg->beta1 : 0.9, b2 = cfg->beta2 > 0 ? cfg->beta2 : 0.999;
    double eps = cfg->eps > 0 ? cfg->eps : 1e-8;
    double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
    adam_k k = {(float)(-(cfg->lr / bc1)), (float)sqrt(bc2), (float)b1, (float)(1.0 - b1),
                (float)b2, (float)(1.0 - b2), (float)eps};
    size_t done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (__builtin_cpu_supports("avx512f")) done = adam_avx512(count, p, g, m, v, &k);
#endif
    adam_scalar(done, count, p, g, m, v, &k);
}
