/* Calibration: Brier score, expected calibration error and the reliability
 * bins of P(class 1); temperature scaling (one T for every logit, fitted by
 * minimizing the negative log-likelihood). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"
#include "pneumo/eval.h"

pn_status pn_calibration_compute(const float *p, const int *label, size_t n, int nbins,
                                 pn_calibration *c, pn_error *err)
{
    pn_status st = pn__check_scores(p, label, n, err);
    if (st) return st;
    if (nbins < 1 || nbins > PN_CAL_MAX_BINS)
        return pn_error_set(err, PN_E_ARG, "calibration: %d bins (1..%d)", nbins, PN_CAL_MAX_BINS);
    memset(c, 0, sizeof *c);
    c->nbins = nbins;
    double sum_p[PN_CAL_MAX_BINS] = {0}, brier = 0;
    size_t pos[PN_CAL_MAX_BINS] = {0};
    for (size_t i = 0; i < n; i++) {
        double v = p[i];
        if (v < 0 || v > 1)
            return pn_error_set(err, PN_E_ARG, "calibration: probability %g of item %zu is not in [0, 1]", v, i);
        brier += (v - label[i]) * (v - label[i]);
        int b = (int)(v * nbins); /* [k/B, (k+1)/B), 1.0 in the last bin */
        if (b >= nbins) b = nbins - 1;
        c->count[b]++;
        sum_p[b] += v;
        pos[b] += label[i] == 1;
    }
    c->brier = brier / (double)n;
    double ece = 0;
    for (int b = 0; b < nbins; b++) {
        c->mean_p[b] = c->count[b] ? sum_p[b] / (double)c->count[b] : NAN;
        c->observed[b] = c->count[b] ? (double)pos[b] / (double)c->count[b] : NAN;
        c->observed_ci[b] = pn_wilson_ci(pos[b], c->count[b], PN_Z95);
        if (c->count[b]) ece += (double)c->count[b] / (double)n * fabs(c->observed[b] - c->mean_p[b]);
    }
    c->ece = ece;
    return PN_OK;
}

/* mean -log softmax(log p / T)[label] over the items (probs (n,C)) */
static double nll(const float *probs, const int *labels, size_t n, int C, double T)
{
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        const float *p = probs + i * (size_t)C;
        double mx = -INFINITY;
        for (int k = 0; k < C; k++) mx = fmax(mx, log((double)p[k]) / T);
        double z = 0;
        for (int k = 0; k < C; k++) z += exp(log((double)p[k]) / T - mx);
        s += -(log((double)p[labels[i]]) / T - mx - log(z));
    }
    return s / (double)n;
}

pn_status pn_fit_temperature(const float *probs, const int *labels, size_t n, int C, double *T,
                             double *nll_before, double *nll_after, pn_error *err)
{
    if (n == 0) return pn_error_set(err, PN_E_ARG, "--calibrate: the validation set is empty");
    int seen[2] = {0, 0};
    for (size_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= C)
            return pn_error_set(err, PN_E_ARG, "--calibrate: label %d of item %zu", labels[i], i);
        for (int k = 0; k < C; k++)
            if (!(probs[i * (size_t)C + k] > 0) || !isfinite(probs[i * (size_t)C + k]))
                return pn_error_set(err, PN_E_NUMERIC,
                                    "--calibrate: probability %d of item %zu is 0 or not finite "
                                    "(a saturated softmax cannot be rescaled)",
                                    k, i);
        seen[labels[i] != 0]++;
    }
    if (!seen[0] || !seen[1])
        return pn_error_set(err, PN_E_ARG,
                            "--calibrate: the validation set needs images of more than one class");
    /* golden-section search over u = ln T in [ln 0.05, ln 20]: NLL(T) of a
     * fixed set of logits is convex in 1/T, unimodal in ln T */
    const double g = (sqrt(5.0) - 1) / 2;
    double a = log(0.05), b = log(20.0);
    double x1 = b - g * (b - a), x2 = a + g * (b - a);
    double f1 = nll(probs, labels, n, C, exp(x1)), f2 = nll(probs, labels, n, C, exp(x2));
    for (int it = 0; it < 200 && b - a > 1e-10; it++) {
        if (f1 <= f2) {
            b = x2;
            x2 = x1;
            f2 = f1;
            x1 = b - g * (b - a);
            f1 = nll(probs, labels, n, C, exp(x1));
        } else {
            a = x1;
            x1 = x2;
            f1 = f2;
            x2 = a + g * (b - a);
            f2 = nll(probs, labels, n, C, exp(x2));
        }
    }
    *T = exp((a + b) / 2);
    if (nll_before) *nll_before = nll(probs, labels, n, C, 1);
    if (nll_after) *nll_after = nll(probs, labels, n, C, *T);
    return PN_OK;
}

void pn_apply_temperature(float *probs, size_t n, int C, double T)
{
    if (T == 1 || !(T > 0)) return;
    for (size_t i = 0; i < n; i++) {
        float *p = probs + i * (size_t)C;
        double mx = -INFINITY, z = 0, l[PN_CAL_MAX_CLASSES];
        int K = C < PN_CAL_MAX_CLASSES ? C : PN_CAL_MAX_CLASSES;
        for (int k = 0; k < K; k++) {
            l[k] = log((double)p[k]) / T;
            mx = fmax(mx, l[k]);
        }
        for (int k = 0; k < K; k++) z += exp(l[k] - mx);
        for (int k = 0; k < K; k++) p[k] = (float)(exp(l[k] - mx) / z);
    }
}
