/* The optimisers as torch.optim 1.13 computes them (single-tensor path,
 * plain C, with a bit-identical AVX-512 path for plain Adam): Adam, AdamW,
 * SGD with momentum / Nesterov, weight decay. */
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "ops/ops.h"

/* torch 1.13 _single_tensor_adam, per element, float tensors, Python-float
 * hyper-parameters:
 *   grad = grad.add(p, alpha=wd)              g = fma(p, (float)wd, g)   (wd != 0)
 *   exp_avg.mul_(b1).add_(g, alpha=1-b1)      m = fma(g, (float)(1-b1), m*(float)b1)
 *   exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)  v = v*(float)b2 + ((float)(1-b2)*g)*g
 *   bc1 = 1 - b1**t, bc2 = 1 - b2**t           (double)
 *   step_size = lr / bc1                       (double)
 *   denom = (v.sqrt() / sqrt(bc2)).add_(eps)   float ops, scalars rounded to float
 *   p.addcdiv_(m, denom, value=-step_size)     p + ((float)(-step_size)*m)/denom
 * (the vectorised add with alpha is a fused multiply-add in PyTorch's CPU
 * kernel). _single_tensor_adamw first does p.mul_(1 - lr*wd) and leaves the
 * gradient alone. */
typedef struct adam_k {
    float step_size, bc2_sqrt, b1, one_b1, b2, one_b2, eps, wd, decay;
    int l2, decoupled;
} adam_k;

static void adam_scalar(size_t i0, size_t count, float *p, const float *g, float *m, float *v,
                        const adam_k *k)
{
    for (size_t i = i0; i < count; i++) {
        float pi = p[i];
        if (k->decoupled) pi = pi * k->decay;
        float gi = k->l2 ? fmaf(pi, k->wd, g[i]) : g[i];
        float mi = fmaf(gi, k->one_b1, m[i] * k->b1);
        float vi = v[i] * k->b2;
        vi = vi + (k->one_b2 * gi) * gi;
        float denom = sqrtf(vi) / k->bc2_sqrt + k->eps;
        p[i] = pi + (k->step_size * mi) / denom;
        m[i] = mi;
        v[i] = vi;
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* Plain Adam (no weight decay) 16 lanes at a time: each operation is
 * IEEE-exact (fma, mul, add, div, sqrt; no contraction under -std=c17), so
 * the result is bit for bit the scalar one. Returns how many it did. */
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

static void adam(const pn_optim *o, double lr, long step, size_t count, float *p, const float *g,
                 float *m, float *v)
{
    double b1 = o->beta1 > 0 ? o->beta1 : 0.9, b2 = o->beta2 > 0 ? o->beta2 : 0.999;
    double eps = o->eps > 0 ? o->eps : 1e-8, wd = o->weight_decay;
    double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
    adam_k k = {(float)(-(lr / bc1)), (float)sqrt(bc2), (float)b1, (float)(1.0 - b1), (float)b2,
                (float)(1.0 - b2), (float)eps, (float)wd, (float)(1.0 - lr * wd),
                o->kind == PN_OPT_ADAM && wd != 0, o->kind == PN_OPT_ADAMW && wd != 0};
    size_t done = 0;
#if defined(__x86_64__) && defined(__GNUC__)
    if (!k.l2 && !k.decoupled && __builtin_cpu_supports("avx512f"))
        done = adam_avx512(count, p, g, m, v, &k);
#endif
    adam_scalar(done, count, p, g, m, v, &k);
}

/* torch 1.13 _single_tensor_sgd (dampening 0, maximize off):
 *   d = g.add(p, alpha=wd)                      fma(p, (float)wd, g)   (wd != 0)
 *   step 1: buf = d.clone(); later: buf.mul_(mom).add_(d)   fma(d, 1, buf*(float)mom)
 *   nesterov: d = d.add(buf, alpha=mom)          fma(buf, (float)mom, d); else d = buf
 *   p.add_(d, alpha=-lr)                        fma(d, (float)(-lr), p) */
static void sgd(const pn_optim *o, double lr, long step, size_t count, float *p, const float *g,
                float *buf)
{
    const float wd = (float)o->weight_decay, mom = (float)o->momentum, nlr = (float)(-lr);
    const int has_wd = o->weight_decay != 0, has_mom = o->momentum != 0;
    for (size_t i = 0; i < count; i++) {
        float d = has_wd ? fmaf(p[i], wd, g[i]) : g[i];
        if (has_mom) {
            float b = step <= 1 ? d : fmaf(d, 1.0f, buf[i] * mom);
            buf[i] = b;
            d = o->nesterov ? fmaf(b, mom, d) : b;
        }
        p[i] = fmaf(d, nlr, p[i]);
    }
}

void pn__optim_step(const pn_optim *o, double lr, long step, size_t count, float *p,
                    const float *g, float *s1, float *s2)
{
    if (o->kind == PN_OPT_SGD) sgd(o, lr, step, count, p, g, s1);
    else adam(o, lr, step, count, p, g, s1, s2);
}

/* ---- names and checks (the public side, pneumo/model.h) ------------------ */

static const char *const kind_names[] = {"adam", "adamw", "sgd"};

int pn_optimizer_parse(const char *s, pn_optimizer *out)
{
    for (int i = 0; i < 3; i++)
        if (s && !strcmp(s, kind_names[i])) {
            *out = (pn_optimizer)i;
            return 0;
        }
    return -1;
}

const char *pn_optimizer_name(pn_optimizer k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

int pn_optim_state_names(const pn_optim *o, const char *names[2])
{
    if (o->kind == PN_OPT_SGD) {
        if (o->momentum == 0) return 0;
        names[0] = "momentum_buffer";
        return 1;
    }
    names[0] = "exp_avg";
    names[1] = "exp_avg_sq";
    return 2;
}

pn_status pn_optim_check(const pn_optim *o, pn_error *err)
{
    if ((unsigned)o->kind > PN_OPT_SGD)
        return pn_error_set(err, PN_E_ARG, "optimizer: unknown kind %d", (int)o->kind);
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return pn_error_set(err, PN_E_ARG, "--weight-decay %g: must be >= 0", o->weight_decay);
    if (!(o->momentum >= 0 && o->momentum < 1))
        return pn_error_set(err, PN_E_ARG, "--momentum %g: must be in [0, 1)", o->momentum);
    if (o->kind != PN_OPT_SGD && (o->momentum != 0 || o->nesterov))
        return pn_error_set(err, PN_E_ARG, "--momentum/--nesterov are for --optimizer sgd");
    if (o->nesterov && o->momentum == 0)
        return pn_error_set(err, PN_E_ARG,
                            "--nesterov needs --momentum > 0 (torch.optim.SGD refuses it too)");
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1) || !(o->eps >= 0))
        return pn_error_set(err, PN_E_ARG, "optimizer: betas must be in [0,1), eps >= 0");
    return PN_OK;
}
