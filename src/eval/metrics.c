/* Binary classification metrics: confusion matrix, ratios, ROC, AUC, Youden. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "eval/eval_internal.h"
#include "pneumo/eval.h"

pn_status pn__check_scores(const float *score, const int *label, size_t n, pn_error *err)
{
    if (n == 0) return pn_error_set(err, PN_E_ARG, "metrics: no predictions (empty split)");
    if (!score || !label) return pn_error_set(err, PN_E_ARG, "metrics: NULL scores or labels");
    for (size_t i = 0; i < n; i++) {
        if (label[i] != 0 && label[i] != 1)
            return pn_error_set(err, PN_E_ARG, "metrics: label %d of item %zu is not 0 or 1",
                                label[i], i);
        if (!isfinite(score[i]))
            return pn_error_set(err, PN_E_NUMERIC, "metrics: score of item %zu is not finite", i);
    }
    return PN_OK;
}

static double ratio(size_t a, size_t b) { return b ? (double)a / (double)b : NAN; }

pn_status pn_metrics_compute(const float *score, const int *label, size_t n, double threshold,
                             pn_metrics *m, pn_error *err)
{
    pn_status st = pn__check_scores(score, label, n, err);
    if (st) return st;
    pn_metrics r = {.threshold = threshold, .n = n};
    for (size_t i = 0; i < n; i++) {
        int pred = (double)score[i] >= threshold;
        if (label[i]) pred ? r.tp++ : r.fn++;
        else pred ? r.fp++ : r.tn++;
    }
    r.accuracy = ratio(r.tp + r.tn, n);
    r.sensitivity = ratio(r.tp, r.tp + r.fn);
    r.specificity = ratio(r.tn, r.tn + r.fp);
    r.ppv = ratio(r.tp, r.tp + r.fp);
    r.npv = ratio(r.tn, r.tn + r.fn);
    r.f1 = ratio(2 * r.tp, 2 * r.tp + r.fp + r.fn);
    r.accuracy_ci = pn_wilson_ci(r.tp + r.tn, n, PN_Z95);
    r.sensitivity_ci = pn_wilson_ci(r.tp, r.tp + r.fn, PN_Z95);
    r.specificity_ci = pn_wilson_ci(r.tn, r.tn + r.fp, PN_Z95);
    r.ppv_ci = pn_wilson_ci(r.tp, r.tp + r.fp, PN_Z95);
    r.npv_ci = pn_wilson_ci(r.tn, r.tn + r.fn, PN_Z95);
    pn_auc_ci a;
    st = pn_auc_delong(score, label, n, PN_Z95, &a, err);
    if (st) return st;
    r.auc = a.auc; /* pn_roc_auc's rank sum */
    r.auc_ci = a.ci;
    r.auc_se = a.se;
    *m = r;
    return PN_OK;
}

/* indices sorted by score ascending (ties by index, for determinism) */
typedef struct { float s; size_t i; } scored;

static int cmp_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->s < y->s) return -1;
    if (x->s > y->s) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

size_t *pn__sorted_order(const float *score, size_t n)
{
    scored *t = malloc(n * sizeof *t);
    size_t *idx = malloc(n * sizeof *idx);
    if (!t || !idx) {
        free(t);
        free(idx);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) t[i] = (scored){score[i], i};
    qsort(t, n, sizeof *t, cmp_scored);
    for (size_t i = 0; i < n; i++) idx[i] = t[i].i;
    free(t);
    return idx;
}

double pn_roc_auc(const float *score, const int *label, size_t n)
{
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) npos += label[i] == 1;
    size_t nneg = n - npos;
    if (npos == 0 || nneg == 0) return NAN;
    size_t *idx = pn__sorted_order(score, n);
    if (!idx) return NAN;
    /* sum of (1-based, tie-averaged) ranks of the positives */
    double rsum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && score[idx[j + 1]] == score[idx[i]]) j++;
        double avg = 0.5 * (double)(i + 1 + j + 1);
        for (size_t k = i; k <= j; k++)
            if (label[idx[k]] == 1) rsum += avg;
        i = j + 1;
    }
    free(idx);
    double u = rsum - 0.5 * (double)npos * (double)(npos + 1);
    return u / ((double)npos * (double)nneg);
}

pn_status pn_roc_curve(const float *score, const int *label, size_t n, pn_roc_point **pts,
                       size_t *npts, pn_error *err)
{
    *pts = NULL;
    *npts = 0;
    pn_status st = pn__check_scores(score, label, n, err);
    if (st) return st;
    size_t npos = 0;
    for (size_t i = 0; i < n; i++) npos += label[i] == 1;
    size_t nneg = n - npos;
    size_t *idx = pn__sorted_order(score, n);
    pn_roc_point *p = malloc((n + 1) * sizeof *p);
    if (!idx || !p) {
        free(idx);
        free(p);
        return pn_error_set(err, PN_E_NOMEM, "ROC curve: out of memory for %zu points", n);
    }
    size_t k = 0, tp = 0, fp = 0;
    p[k++] = (pn_roc_point){ratio(0, nneg), ratio(0, npos), INFINITY};
    /* walk from the highest score down; one point per distinct score */
    for (size_t i = n; i > 0;) {
        size_t j = i - 1;
        float s = score[idx[j]];
        while (1) {
            if (label[idx[j]]) tp++;
            else fp++;
            if (j == 0 || score[idx[j - 1]] != s) break;
            j--;
        }
        p[k++] = (pn_roc_point){ratio(fp, nneg), ratio(tp, npos), s};
        i = j;
    }
    free(idx);
    *pts = p;
    *npts = k;
    return PN_OK;
}

pn_status pn_youden_threshold(const float *score, const int *label, size_t n, double *threshold,
                              double *j, pn_error *err)
{
    pn_roc_point *p;
    size_t np;
    pn_status st = pn_roc_curve(score, label, n, &p, &np, err);
    if (st) return st;
    if (isnan(p[0].fpr) || isnan(p[0].tpr)) {
        free(p);
        return pn_error_set(err, PN_E_ARG,
                            "threshold auto: the validation set needs both classes (Youden's J "
                            "is undefined otherwise); pass --threshold T");
    }
    double best = -INFINITY, thr = 0.5;
    for (size_t i = 1; i < np; i++) { /* skip the +inf point: nothing positive */
        double jj = p[i].tpr - p[i].fpr;
        if (jj > best) {
            best = jj;
            thr = p[i].threshold;
        }
    }
    free(p);
    *threshold = thr;
    if (j) *j = best;
    return PN_OK;
}
