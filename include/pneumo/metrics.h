/* pneumo: binary classification metrics for NORMAL (0) vs PNEUMONIA (1).
 *
 * The positive class is PNEUMONIA = class 1. An image is predicted positive
 * when its probability of PNEUMONIA is >= the threshold.
 *
 * Undefined ratios (0/0: e.g. sensitivity when there are no positives, PPV
 * when nothing is predicted positive) are NaN; the JSON writers turn NaN into
 * null. ROC AUC is the Mann-Whitney rank statistic with average ranks for ties
 * (exact, equal to the trapezoidal area under the ROC curve); it is NaN when
 * only one class is present.
 */
#ifndef PNEUMO_METRICS_H
#define PNEUMO_METRICS_H

#include <stddef.h>

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_metrics {
    double threshold;
    size_t n, tp, fp, tn, fn;  /* confusion matrix (positive = PNEUMONIA) */
    double accuracy;           /* (tp+tn)/n */
    double sensitivity;        /* tp/(tp+fn), recall of PNEUMONIA */
    double specificity;        /* tn/(tn+fp) */
    double ppv;                /* tp/(tp+fp), precision */
    double npv;                /* tn/(tn+fn) */
    double f1;                 /* 2tp/(2tp+fp+fn) */
    double auc;                /* ROC AUC, NaN with one class only */
} pn_metrics;

typedef struct pn_roc_point {
    double fpr, tpr;
    double threshold; /* predict positive when score >= threshold (+inf for the first point) */
} pn_roc_point;

/* All metrics of n scores (P(PNEUMONIA), finite) with labels 0/1 at the
 * threshold. PN_E_ARG for n == 0, a label not 0/1 or a non-finite score. */
pn_status pn_metrics_compute(const float *score, const int *label, size_t n, double threshold,
                             pn_metrics *m, pn_error *err);

/* ROC AUC (Mann-Whitney, average ranks for ties); NaN with one class. */
double pn_roc_auc(const float *score, const int *label, size_t n);

/* ROC curve: one point per distinct score, from (0,0) at threshold +inf to
 * (1,1). *pts is malloc'ed (free() it); *npts = distinct scores + 1. */
pn_status pn_roc_curve(const float *score, const int *label, size_t n, pn_roc_point **pts,
                       size_t *npts, pn_error *err);

/* Threshold maximizing Youden's J = sensitivity + specificity - 1 over the
 * ROC points (ties: the highest threshold, i.e. the fewest positives). The
 * threshold is the lowest score still predicted positive at that point.
 * PN_E_ARG when one class is missing (J is undefined). */
pn_status pn_youden_threshold(const float *score, const int *label, size_t n, double *threshold,
                              double *j, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
