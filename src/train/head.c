/* Linear head forward/backward, cross-entropy, Adam — on raw floats. */
#include <math.h>

#include "pneumo/head.h"

/* ---- linear: forward and backward side by side ------------------------- */

void pn_head_forward(const float *x, const float *w, const float *b, int n, int d, int c,
                     float *logits)
{
    // x (N,D), w (C,D), b (C) -> logits (N,C)
    for (int i = 0; i < n; i++)
        for (int k = 0; k < c; k++) {
            const float *xi = x + (size_t)i * d, *wk = w + (size_t)k * d;
            float acc = 0.0f;
            for (int j = 0; j < d; j++) acc += xi[j] * wk[j];
            logits[(size_t)i * c + k] = acc + b[k];
        }
}

void pn_head_backward(const float *x, const float *dlogits, int n, int d, int c, float *dw,
                      float *db)
{
    // dlogits (N,C), x (N,D) -> dw (C,D), db (C)
    for (int k = 0; k < c; k++) {
        float *dwk = dw + (size_t)k * d;
        for (int j = 0; j < d; j++) dwk[j] = 0.0f;
        float acc = 0.0f;
        for (int i = 0; i < n; i++) {
            float g = dlogits[(size_t)i * c + k];
            const float *xi = x + (size_t)i * d;
            for (int j = 0; j < d; j++) dwk[j] += g * xi[j];
            acc += g;
        }
        db[k] = acc;
    }
}

/* ---- softmax / cross-entropy -------------------------------------------- */

void pn_softmax(const float *logits, int n, int c, float *probs)
{
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        float *p = probs + (size_t)i * c;
        float mx = z[0];
        for (int k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
        float s = 0.0f;
        for (int k = 0; k < c; k++) {
            p[k] = expf(z[k] - mx);
            s += p[k];
        }
        for (int k = 0; k < c; k++) p[k] /= s;
    }
}

pn_status pn_cross_entropy(const float *logits, const int *y, const float *cw, int n, int c,
                           double *loss, float *dlogits, float *probs, pn_error *err)
{
    // logits (N,C), y (N), cw (C) -> loss, dlogits (N,C), probs (N,C)
    double num = 0.0, den = 0.0;
    for (int i = 0; i < n; i++) {
        if (y[i] < 0 || y[i] >= c)
            return pn_error_set(err, PN_E_ARG, "cross-entropy: label %d of item %d is not in [0, %d)",
                                y[i], i, c);
        const float *z = logits + (size_t)i * c;
        float mx = z[0];
        for (int k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
        float s = 0.0f;
        for (int k = 0; k < c; k++) s += expf(z[k] - mx);
        float lse = logf(s) + mx;
        float wy = cw ? cw[y[i]] : 1.0f;
        num += (double)wy * (double)(lse - z[y[i]]);
        den += wy;
    }
    double l = den > 0 ? num / den : NAN;
    if (!isfinite(l))
        return pn_error_set(err, PN_E_NUMERIC,
                            "loss is %s (diverged: try a lower --lr, or check the features)",
                            isnan(l) ? "NaN" : "infinite");
    *loss = l;
    if (dlogits || probs) {
        for (int i = 0; i < n; i++) {
            const float *z = logits + (size_t)i * c;
            float mx = z[0];
            for (int k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
            float s = 0.0f;
            for (int k = 0; k < c; k++) s += expf(z[k] - mx);
            float scale = (float)((cw ? cw[y[i]] : 1.0f) / den);
            for (int k = 0; k < c; k++) {
                float p = expf(z[k] - mx) / s;
                if (probs) probs[(size_t)i * c + k] = p;
                if (dlogits) dlogits[(size_t)i * c + k] = scale * (p - (k == y[i] ? 1.0f : 0.0f));
            }
        }
    }
    return PN_OK;
}

/* ---- Adam ------------------------------------------------------------------ */

void pn_adam_update(const pn_adam_cfg *cfg, long step, float *param, const float *grad, float *m,
                    float *v, size_t n)
{
    // PyTorch 1.13 _single_tensor_adam: float tensors, Python-double scalars
    const float b1 = (float)cfg->beta1, b2 = (float)cfg->beta2;
    const float a1 = (float)(1.0 - cfg->beta1), a2 = (float)(1.0 - cfg->beta2);
    const double bc1 = 1.0 - pow(cfg->beta1, (double)step);
    const double bc2 = 1.0 - pow(cfg->beta2, (double)step);
    const float step_size = (float)(cfg->lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float eps = (float)cfg->eps, wd = (float)cfg->weight_decay;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        if (wd != 0.0f) g = g + wd * param[i];
        m[i] = m[i] * b1 + a1 * g;
        v[i] = v[i] * b2 + a2 * g * g;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        param[i] = param[i] + (-step_size) * (m[i] / denom);
    }
}
