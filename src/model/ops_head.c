/* Head ops in plain C: linear (x W^T + b), cross-entropy (log-softmax + NLL
 * with class weights), and Adam as torch 1.13 computes it. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/ops.h"

// x (N,I), w (O,I), b (O), y (N,O)
void pn_linear_forward(int n, int in, int out, const float *x, const float *w, const float *b,
                       float *y)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++) acc += (double)x[(size_t)i * in + k] * w[(size_t)o * in + k];
            y[(size_t)i * out + o] = (float)acc;
        }
}

// dy (N,O) -> dx (N,I) (optional), dw (O,I), db (O)
void pn_linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db)
{
    if (dx)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < in; k++) {
                double acc = 0;
                for (int o = 0; o < out; o++) acc += (double)dy[(size_t)i * out + o] * w[(size_t)o * in + k];
                dx[(size_t)i * in + k] = (float)acc;
            }
    for (int o = 0; o < out; o++) {
        double sb = 0;
        for (int i = 0; i < n; i++) sb += dy[(size_t)i * out + o];
        if (db) db[o] = (float)sb;
        if (!dw) continue;
        for (int k = 0; k < in; k++) {
            double acc = 0;
            for (int i = 0; i < n; i++) acc += (double)dy[(size_t)i * out + o] * x[(size_t)i * in + k];
            dw[(size_t)o * in + k] = (float)acc;
        }
    }
}

// logits (N,K), labels (N), class_weights (K) or NULL, dlogits (N,K) or NULL
pn_status pn_cross_entropy(int n, int k, const float *logits, const int *labels,
                           const float *class_weights, float *loss, float *dlogits,
                           pn_error *err)
{
    if (n < 1 || k < 1) return pn_error_set(err, PN_E_ARG, "cross entropy: bad dims n=%d k=%d", n, k);
    double wsum = 0, lsum = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            return pn_error_set(err, PN_E_ARG, "cross entropy: label %d of sample %d not in [0,%d)",
                                labels[i], i, k);
        wsum += class_weights ? class_weights[labels[i]] : 1.0;
    }
    if (!(wsum > 0) || !isfinite(wsum))
        return pn_error_set(err, PN_E_ARG, "cross entropy: total target weight %g is not positive",
                            wsum);
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        double mx = z[0], se = 0;
        for (int c = 1; c < k; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < k; c++) se += exp(z[c] - mx);
        double lse = mx + log(se);
        double wi = class_weights ? class_weights[labels[i]] : 1.0;
        lsum += wi * (lse - z[labels[i]]);
        if (dlogits)
            for (int c = 0; c < k; c++)
                dlogits[(size_t)i * k + c] =
                    (float)(wi / wsum * (exp(z[c] - lse) - (c == labels[i] ? 1.0 : 0.0)));
    }
    *loss = (float)(lsum / wsum);
    if (!isfinite(*loss))
        return pn_error_set(err, PN_E_NUMERIC, "cross entropy: loss is not finite");
    return PN_OK;
}

/* torch 1.13 _single_tensor_adam, per element, float tensors, Python-float
 * hyper-parameters:
 *   exp_avg.mul_(b1).add_(g, alpha=1-b1)      m = fma(g, (float)(1-b1), m*(float)b1)
 *   exp_avg_sq.mul_(b2).addcmul_(g, g, 1-b2)  v = v*(float)b2 + ((float)(1-b2)*g)*g
 *   bc1 = 1 - b1**t, bc2 = 1 - b2**t           (double)
 *   step_size = lr / bc1                       (double)
 *   denom = (v.sqrt() / sqrt(bc2)).add_(eps)   float ops, scalars rounded to float
 *   p.addcdiv_(m, denom, value=-step_size)     p + ((float)(-step_size)*m)/denom
 * (the vectorised add_ with alpha is a fused multiply-add in PyTorch's CPU kernel) */
void pn_adam_step(size_t count, float *p, const float *g, float *m, float *v, long step,
                  const pn_adam_config *cfg)
{
    double b1 = cfg->beta1 > 0 ? cfg->beta1 : 0.9, b2 = cfg->beta2 > 0 ? cfg->beta2 : 0.999;
    double eps = cfg->eps > 0 ? cfg->eps : 1e-8;
    double bc1 = 1.0 - pow(b1, (double)step), bc2 = 1.0 - pow(b2, (double)step);
    float step_size = (float)(-(cfg->lr / bc1));
    float bc2_sqrt = (float)sqrt(bc2);
    float fb1 = (float)b1, f1b1 = (float)(1.0 - b1), fb2 = (float)b2, f1b2 = (float)(1.0 - b2);
    float feps = (float)eps;
    for (size_t i = 0; i < count; i++) {
        float gi = g[i];
        float mi = fmaf(gi, f1b1, m[i] * fb1);
        float vi = v[i] * fb2;
        vi = vi + (f1b2 * gi) * gi;
        float denom = sqrtf(vi) / bc2_sqrt + feps;
        p[i] = p[i] + (step_size * mi) / denom;
        m[i] = mi;
        v[i] = vi;
    }
}
