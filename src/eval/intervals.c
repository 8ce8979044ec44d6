/* Intervals of the binary metrics: Wilson's score interval, DeLong's AUC
 * variance (one model, and two models paired on one set) and a seeded
 * stratified percentile bootstrap. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_internal.h"
#include "pneumo/eval.h"
#include "pneumo/rng.h"

static const pn_ci no_ci = {NAN, NAN};

pn_ci pn_wilson_ci(size_t k, size_t n, double z)
{
    if (n == 0 || k > n) return no_ci;
    /* (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n) */
    double nn = (double)n, p = (double)k / nn, z2 = z * z;
    double den = 1 + z2 / nn, mid = p + z2 / (2 * nn);
    double half = z * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
    pn_ci c = {(mid - half) / den, (mid + half) / den};
    if (k == 0) c.lo = 0; /* exact at the edges (the formula gives 0/1 up to rounding) */
    if (k == n) c.hi = 1;
    return c;
}

int pn__delong_components(const float *score, const int *label, size_t n, double *v10,
                          double *v01)
{
    size_t *idx = pn__sorted_order(score, n);
    size_t *pos_at = malloc((n ? n : 1) * sizeof *pos_at);
    if (!idx || !pos_at) {
        free(idx);
        free(pos_at);
        return -1;
    }
    size_t npos = 0, nneg = 0;
    for (size_t i = 0; i < n; i++) pos_at[i] = label[i] ? npos++ : nneg++; /* rank in class */
    /* walk tie groups upwards: negatives below, positives above */
    size_t neg_below = 0, pos_below = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, gp = 0, gn = 0;
        while (j < n && score[idx[j]] == score[idx[i]]) {
            label[idx[j]] ? gp++ : gn++;
            j++;
        }
        double below = (double)neg_below + 0.5 * (double)gn;
        double above = (double)(npos - pos_below - gp) + 0.5 * (double)gp;
        for (size_t k = i; k < j; k++) {
            size_t it = idx[k];
            if (label[it]) v10[pos_at[it]] = below / (double)nneg;
            else v01[pos_at[it]] = above / (double)npos;
        }
        neg_below += gn;
        pos_below += gp;
        i = j;
    }
    free(idx);
    free(pos_at);
    return 0;
}

/* sample covariance (n - 1) of x and y around their means */
static double cov(const double *x, const double *y, size_t n)
{
    double mx = 0, my = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (size_t i = 0; i < n; i++) s += (x[i] - mx) * (y[i] - my);
    return s / (double)(n - 1);
}

static void count_classes(const int *label, size_t n, size_t *npos, size_t *nneg)
{
    size_t p = 0;
    for (size_t i = 0; i < n; i++) p += label[i] == 1;
    *npos = p;
    *nneg = n - p;
}

/* components of one score set: v (npos + nneg), v10 first */
static pn_status components(const float *score, const int *label, size_t n, size_t npos,
                            double **v, pn_error *err)
{
    *v = malloc((n ? n : 1) * sizeof **v);
    if (!*v || pn__delong_components(score, label, n, *v, *v + npos)) {
        free(*v);
        *v = NULL;
        return pn_error_set(err, PN_E_NOMEM, "DeLong: out of memory for %zu items", n);
    }
    return PN_OK;
}

pn_status pn_auc_delong(const float *score, const int *label, size_t n, double z, pn_auc_ci *r,
                        pn_error *err)
{
    pn_status st = pn__check_scores(score, label, n, err);
    if (st) return st;
    *r = (pn_auc_ci){.auc = pn_roc_auc(score, label, n), .var = NAN, .se = NAN, .ci = no_ci};
    count_classes(label, n, &r->npos, &r->nneg);
    if (r->npos < 2 || r->nneg < 2) return PN_OK;
    double *v;
    st = components(score, label, n, r->npos, &v, err);
    if (st) return st;
    r->var = cov(v, v, r->npos) / (double)r->npos +
             cov(v + r->npos, v + r->npos, r->nneg) / (double)r->nneg;
    free(v);
    r->se = sqrt(r->var);
    r->ci.lo = fmax(0, r->auc - z * r->se);
    r->ci.hi = fmin(1, r->auc + z * r->se);
    return PN_OK;
}

pn_status pn_delong_paired(const float *a, const float *b, const int *label, size_t n,
                           pn_delong_test *t, pn_error *err)
{
    pn_status st = pn__check_scores(a, label, n, err);
    if (!st) st = pn__check_scores(b, label, n, err);
    if (st) return st;
    *t = (pn_delong_test){.auc_a = pn_roc_auc(a, label, n), .auc_b = pn_roc_auc(b, label, n)};
    t->diff = t->auc_a - t->auc_b;
    t->var_a = t->var_b = t->cov = t->se = t->z = t->p = NAN;
    t->diff_ci = no_ci;
    count_classes(label, n, &t->npos, &t->nneg);
    const size_t m = t->npos, k = t->nneg;
    if (m < 2 || k < 2) return PN_OK;
    double *va, *vb;
    st = components(a, label, n, m, &va, err);
    if (st) return st;
    st = components(b, label, n, m, &vb, err);
    if (st) {
        free(va);
        return st;
    }
    t->var_a = cov(va, va, m) / (double)m + cov(va + m, va + m, k) / (double)k;
    t->var_b = cov(vb, vb, m) / (double)m + cov(vb + m, vb + m, k) / (double)k;
    t->cov = cov(va, vb, m) / (double)m + cov(va + m, vb + m, k) / (double)k;
    free(va);
    free(vb);
    double var = t->var_a + t->var_b - 2 * t->cov;
    t->se = sqrt(fmax(0, var));
    if (t->se > 0) {
        t->z = t->diff / t->se;
        t->p = erfc(fabs(t->z) / sqrt(2.0));
    } else if (t->diff != 0) {
        t->z = t->diff > 0 ? INFINITY : -INFINITY;
        t->p = 0;
    } else {
        t->z = NAN;
        t->p = 1;
    }
    t->diff_ci = (pn_ci){t->diff - PN_Z95 * t->se, t->diff + PN_Z95 * t->se};
    return PN_OK;
}

/* ---- bootstrap ---------------------------------------------------------------- */

/* uniform in [0, k) */
static size_t draw(pn_rng *g, size_t k)
{
    uint64_t lim = (UINT64_C(1) << 32) - ((UINT64_C(1) << 32) % k);
    uint32_t r;
    do r = pn_rng_u32(g);
    while ((uint64_t)r >= lim);
    return r % k;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* the percentile interval of the finite values of v (n); counts the others */
static pn_ci percentile_ci(double *v, int n, int *undefined)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) v[k++] = v[i];
    *undefined = n - k;
    if (k == 0) return no_ci;
    qsort(v, (size_t)k, sizeof *v, cmp_double);
    double q[2] = {0.025, 0.975}, r[2];
    for (int j = 0; j < 2; j++) {
        double h = q[j] * (k - 1);
        int lo = (int)floor(h);
        int hi = lo + 1 < k ? lo + 1 : lo;
        r[j] = v[lo] + (h - lo) * (v[hi] - v[lo]);
    }
    return (pn_ci){r[0], r[1]};
}

static double ratio(size_t a, size_t b) { return b ? (double)a / (double)b : NAN; }

pn_status pn_bootstrap_metrics(const float *score, const int *label, size_t n, double threshold,
                               int reps, uint64_t seed, pn_bootstrap *b, pn_error *err)
{
    pn_status st = pn__check_scores(score, label, n, err);
    if (st) return st;
    if (reps < 1) return pn_error_set(err, PN_E_ARG, "--bootstrap: %d resamples (want >= 1)", reps);
    memset(b, 0, sizeof *b);
    b->reps = reps;
    b->seed = seed;
    size_t npos, nneg;
    count_classes(label, n, &npos, &nneg);
    size_t *pos = malloc(n * sizeof *pos), *neg = pos + npos;
    float *s = malloc(n * sizeof *s);
    int *y = malloc(n * sizeof *y);
    double *v = malloc(7 * (size_t)reps * sizeof *v);
    if (!pos || !s || !y || !v) {
        free(pos);
        free(s);
        free(y);
        free(v);
        return pn_error_set(err, PN_E_NOMEM, "--bootstrap: out of memory for %d resamples", reps);
    }
    for (size_t i = 0, p = 0, q = 0; i < n; i++) {
        if (label[i]) pos[p++] = i;
        else neg[q++] = i;
    }
    pn_rng g;
    pn_rng_seed(&g, seed);
    for (int r = 0; r < reps; r++) {
        size_t tp = 0, fp = 0, tn = 0, fn = 0;
        for (size_t i = 0; i < n; i++) {
            size_t it = i < npos ? pos[draw(&g, npos)] : neg[draw(&g, nneg)];
            s[i] = score[it];
            y[i] = label[it];
            int pred = (double)s[i] >= threshold;
            if (y[i]) pred ? tp++ : fn++;
            else pred ? fp++ : tn++;
        }
        double *o = v + (size_t)r;
        o[0 * (size_t)reps] = ratio(tp + tn, n);
        o[1 * (size_t)reps] = ratio(tp, tp + fn);
        o[2 * (size_t)reps] = ratio(tn, tn + fp);
        o[3 * (size_t)reps] = ratio(tp, tp + fp);
        o[4 * (size_t)reps] = ratio(tn, tn + fn);
        o[5 * (size_t)reps] = ratio(2 * tp, 2 * tp + fp + fn);
        o[6 * (size_t)reps] = pn_roc_auc(s, y, n);
    }
    pn_ci *out[7] = {&b->accuracy, &b->sensitivity, &b->specificity, &b->ppv,
                     &b->npv,      &b->f1,          &b->auc};
    for (int k = 0; k < 7; k++) *out[k] = percentile_ci(v + (size_t)k * reps, reps, &b->undefined[k]);
    free(pos);
    free(s);
    free(y);
    free(v);
    return PN_OK;
}
