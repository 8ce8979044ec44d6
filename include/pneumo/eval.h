/* pneumo: evaluating a trained classifier.
 *
 *   classifier  a model file (or a plain torchvision state_dict with a
 *               2-output head: classes NORMAL, PNEUMONIA) on the inference
 *               engine: softmax probabilities, decisions, dataset
 *               evaluation, CAM heatmaps (pneumo/cam.h)
 *   softmax     softmax and argmax accuracy of logits
 *   metrics     binary metrics for NORMAL (0) vs PNEUMONIA (1)
 *
 * Metrics: the positive class is PNEUMONIA = class 1. An image is predicted
 * positive when its probability of PNEUMONIA is >= the threshold.
 * Undefined ratios (0/0: e.g. sensitivity when there are no positives, PPV
 * when nothing is predicted positive) are NaN; the JSON writers turn NaN
 * into null. ROC AUC is the Mann-Whitney rank statistic with average ranks
 * for ties (exact, equal to the trapezoidal area under the ROC curve); it is
 * NaN when only one class is present.
 *
 * Intervals (95%, z = 1.959963984540054): Wilson's score interval (1927)
 * for the five proportions, DeLong's (1988) for the ROC AUC (its
 * structural-components variance, the normal interval clipped to [0, 1]),
 * and on request a seeded stratified percentile bootstrap for every metric,
 * F1 included. An interval is {NaN, NaN} where it is undefined (an
 * undefined ratio; DeLong needs two positives and two negatives).
 */
#ifndef PNEUMO_EVAL_H
#define PNEUMO_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/dataset.h"
#include "pneumo/image.h"
#include "pneumo/infer.h"
#include "pneumo/status.h"
#include "pneumo/weights.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- softmax and accuracy --------------------------------------------------- */

/* probs (N,C) = softmax(logits (N,C)) row by row (may alias). */
void pn_softmax(const float *logits, int n, int c, float *probs);

/* How many rows of logits (N,C) have their argmax (the first maximum, as
 * torch.argmax) equal to labels (N). */
size_t pn_count_correct(const float *logits, const int *labels, int n, int c);

/* ---- metrics ------------------------------------------------------------------ */

#define PN_Z95 1.959963984540054 /* the normal quantile of 0.975 */

typedef struct pn_ci {
    double lo, hi; /* NaN, NaN when undefined */
} pn_ci;

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
    /* 95% intervals: Wilson for the proportions, DeLong for the AUC */
    pn_ci accuracy_ci, sensitivity_ci, specificity_ci, ppv_ci, npv_ci, auc_ci;
    double auc_se;             /* DeLong's standard error (NaN: undefined) */
} pn_metrics;

typedef struct pn_roc_point {
    double fpr, tpr;
    double threshold; /* predict positive when score >= threshold (+inf for the first point) */
} pn_roc_point;

/* All metrics of n scores (P(PNEUMONIA), finite) with labels 0/1 at the
 * threshold. PN_E_ARG for n == 0, a label not 0/1 or a non-finite score. */
pn_status pn_metrics_compute(const float *score, const int *label, size_t n, double threshold,
                             pn_metrics *m, pn_error *err);

/* Wilson's score interval of k successes in n trials at the normal
 * quantile z (PN_Z95 for 95%); {NaN, NaN} when n == 0. */
pn_ci pn_wilson_ci(size_t k, size_t n, double z);

typedef struct pn_auc_ci {
    double auc, var, se; /* var = S10/npos + S01/nneg (DeLong) */
    pn_ci ci;            /* auc -/+ z se, clipped to [0, 1] */
    size_t npos, nneg;
} pn_auc_ci;

/* DeLong's variance and interval of the AUC of n scores with labels 0/1.
 * auc is NaN with one class; var, se and ci are NaN unless there are at
 * least two positives and two negatives. PN_E_ARG as pn_metrics_compute. */
pn_status pn_auc_delong(const float *score, const int *label, size_t n, double z, pn_auc_ci *r,
                        pn_error *err);

/* DeLong's paired test of two score sets a, b on the same n items (two
 * models on one data set): the AUC difference, its variance
 * var_a + var_b - 2 cov, z = diff / se and the two-sided p-value. NaN where
 * undefined (fewer than two of a class; se == 0 with diff != 0 gives z =
 * +-inf and p = 0, se == 0 with diff == 0 gives z = NaN, p = 1). */
typedef struct pn_delong_test {
    double auc_a, auc_b, diff, var_a, var_b, cov, se, z, p;
    pn_ci diff_ci; /* 95% interval of auc_a - auc_b */
    size_t npos, nneg;
} pn_delong_test;

pn_status pn_delong_paired(const float *a, const float *b, const int *label, size_t n,
                           pn_delong_test *t, pn_error *err);

/* Seeded stratified percentile bootstrap: reps resamples, each drawing the
 * positives from the positives and the negatives from the negatives (with
 * replacement, the class counts kept), metrics at threshold; the interval
 * is the 2.5th and 97.5th percentile (linear interpolation, numpy's
 * default) of the resamples where the metric is defined; `undefined`
 * counts the others (all undefined: {NaN, NaN}). Draws: pn_rng (mt19937)
 * seeded with seed, an index in [0, k) from u32 by rejection of the top
 * 2^32 mod k values then u32 % k; positives first, in item order. */
typedef struct pn_bootstrap {
    int reps;
    uint64_t seed;
    pn_ci accuracy, sensitivity, specificity, ppv, npv, f1, auc;
    int undefined[7]; /* in that order */
} pn_bootstrap;

pn_status pn_bootstrap_metrics(const float *score, const int *label, size_t n, double threshold,
                               int reps, uint64_t seed, pn_bootstrap *b, pn_error *err);

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

/* ---- calibration -------------------------------------------------------------------- */

#define PN_CAL_MAX_BINS 20
#define PN_CAL_MAX_CLASSES 64

/* Reliability of P(class 1): equal-width bins [k/B, (k+1)/B) (1.0 in the
 * last); per bin the count, the mean predicted probability and the observed
 * share of positives (NaN in an empty bin) with its Wilson interval.
 * Brier = mean (p - y)^2; ECE = sum_b n_b/n |observed_b - mean_p_b|. */
typedef struct pn_calibration {
    double brier, ece;
    int nbins;
    size_t count[PN_CAL_MAX_BINS];
    double mean_p[PN_CAL_MAX_BINS], observed[PN_CAL_MAX_BINS];
    pn_ci observed_ci[PN_CAL_MAX_BINS];
} pn_calibration;

/* PN_E_ARG as pn_metrics_compute, or for a probability outside [0, 1]. */
pn_status pn_calibration_compute(const float *p, const int *label, size_t n, int nbins,
                                 pn_calibration *c, pn_error *err);

/* Temperature scaling (Guo et al. 2017): the T > 0 minimizing the mean
 * negative log-likelihood of softmax(log(probs) / T) (the logits up to a
 * constant) on n labelled rows (n,C); golden-section search over ln T in
 * [ln 0.05, ln 20] to 1e-10. The NLL at T = 1 and at T (may be NULL).
 * PN_E_ARG with one class or n == 0; PN_E_NUMERIC for a zero probability. */
pn_status pn_fit_temperature(const float *probs, const int *labels, size_t n, int C, double *T,
                             double *nll_before, double *nll_after, pn_error *err);
/* probs (n,C) <- softmax(log(probs) / T) in place (T == 1: unchanged). */
void pn_apply_temperature(float *probs, size_t n, int C, double T);

/* ---- operating points ------------------------------------------------------------ */

typedef enum pn_op_kind {
    PN_OP_YOUDEN, /* maximize Youden's J (pn_youden_threshold) */
    PN_OP_SENS,   /* sensitivity >= target, the best specificity among those */
    PN_OP_SPEC,   /* specificity >= target, the best sensitivity among those */
    PN_OP_PPV,    /* PPV >= target, the best sensitivity among those */
} pn_op_kind;

typedef struct pn_op_rule {
    pn_op_kind kind;
    double target; /* in (0, 1]; NaN for Youden */
} pn_op_rule;

/* "auto" or "youden", "sens=0.95", "spec=0.90", "ppv=0.8" (PN_E_ARG otherwise). */
pn_status pn_op_rule_parse(const char *s, pn_op_rule *r, pn_error *err);
/* "Youden's J", "sensitivity >= 0.95", ... into buf; returns buf. */
const char *pn_op_rule_describe(const pn_op_rule *r, char *buf, size_t n);
/* The threshold (the lowest score still predicted positive at the chosen
 * ROC point) that rule r chooses on n labelled scores; *achieved (may be
 * NULL) = J, or the sensitivity / specificity / PPV reached there. PN_E_ARG
 * with a plain sentence when one class is missing or no threshold that
 * predicts any image positive reaches the target (e.g. a PPV the scores
 * never reach; the message gives the best reachable value). */
pn_status pn_op_threshold(const float *score, const int *label, size_t n, const pn_op_rule *r,
                          double *threshold, double *achieved, pn_error *err);

/* ---- classifier ---------------------------------------------------------------- */

typedef struct pn_classifier {
    pn_statedict sd;
    pn_model_meta meta;
    pn_infer *engine;
    int batch, classes, want_cam;
    int size;          /* input side: images are (3, size, size) */
    int cam_h, cam_w;  /* layer4's spatial size (CAM) */
    const float *fc_w; /* (C,512) inside sd */
    float *logits;     /* (batch, C) */
    const float *fc_b; /* (C) inside sd */
    double temperature; /* softmax(logits / T); 1 unless the model is calibrated */
} pn_classifier;

/* Load the model and build the engine (LOGITS; layer4 too when want_cam).
 * mode: PN_INFER_* flags (pneumo/infer.h): 0 fp32, PN_INFER_BF16 (= 1, the
 * old bf16 flag), PN_INFER_INT8 (a model made by pn_quantize_model),
 * PN_INFER_WINOGRAD. A fallback notice is in pn_infer_notice(c->engine). */
pn_status pn_classifier_open(pn_classifier *c, const char *model_path, int batch, int threads,
                             int mode, int want_cam, pn_error *err);
void pn_classifier_free(pn_classifier *c);

/* x (n,3,size,size) -> probs (n,C) softmax; layer4 (n,512,cam_h,cam_w) when want_cam
 * (NULL otherwise). n <= batch. */
pn_status pn_classifier_run(pn_classifier *c, const float *x, int n, float *probs, float *layer4,
                            pn_error *err);

/* The head alone: pooled features feat (n,512) -> probs (n,C), the same
 * arithmetic as the engine's logits (fc in double) and softmax(logits / T).
 * n <= batch. */
void pn_classifier_head(pn_classifier *c, const float *feat, int n, float *probs);

/* Predicted class: with 2 classes P(class 1) >= threshold, else argmax. */
int pn_classifier_decide(const pn_classifier *c, const float *probs, double threshold);

/* All items of a split: *probs (n,C) and *labels (n) malloc'ed; names
 * point into the dataset. With skip_bad unreadable items are left out and,
 * when bad is non-NULL, appended to it with their reasons (in item order;
 * free with pn_bad_list_free). */
pn_status pn_classifier_eval_split(pn_classifier *c, const pn_dataset *ds, pn_split split,
                                   int threads, const pn_decode_opts *o, int skip_bad,
                                   float **probs, int **labels, const char ***names, size_t *n,
                                   pn_bad_list *bad, pn_error *err);

/* Binary metrics (pn_metrics_compute on P(class 1)) of n probability rows
 * (n,2) with labels; PN_E_UNSUPPORTED unless the classifier has 2 classes. */
pn_status pn_classifier_metrics(const pn_classifier *c, const float *probs, const int *labels,
                                size_t n, double threshold, pn_metrics *m, pn_error *err);

/* CAM of class cls for one image: layer4 (512,h,w), img the decoded
 * original image; writes the figure of pn_plot_cam (report.h: the image at
 * most 512 px, the map with opacity by activation, a colour bar, the
 * caption "CAM of CLASS · P(CLASS) = p") at png_path. */
pn_status pn_classifier_cam_png(const pn_classifier *c, const float *layer4, int h, int w,
                                int cls, const pn_image *img, const char *png_path,
                                pn_error *err);

/* ---- int8 quantization (src/eval/quantize.c) --------------------------------
 * pn_quantize_model: load a model file, calibrate the int8 engine on
 * calib_images training images (spread evenly over the train split; at
 * least PN_QUANT_MIN_IMAGES and two classes, else PN_E_ARG), measure the
 * int8 probabilities against fp32 on every val and test image, and save the
 * model with the calibration and the measured cost in its metadata
 * ("pneumo.int8.*", see infer.h; "pneumo.int8.accuracy" holds the report's
 * numbers as JSON) to out_path (NULL: measure only). */
#define PN_QUANT_MIN_IMAGES 16
typedef struct pn_quant_opts {
    int calib_images; /* default 128 */
    int batch;        /* default 16 */
    int threads;      /* 0 = all cores */
} pn_quant_opts;
void pn_quant_opts_default(pn_quant_opts *o);

typedef struct pn_quant_report {
    long calib_images;      /* images calibrated on */
    size_t images;          /* held-out images measured */
    double max_dp, mean_dp; /* max and mean |P_int8(class 1) - P_fp32(class 1)| */
    size_t flipped;         /* decisions (threshold, or argmax) that differ */
    double auc_fp32, auc_int8; /* ROC AUC of P(class 1) (NaN: not 2 classes or one label) */
    double seconds_fp32, seconds_int8; /* engine time of the measured forwards */
} pn_quant_report;

pn_status pn_quantize_model(const char *model_path, const pn_dataset *ds, const pn_quant_opts *o,
                            const char *out_path, pn_quant_report *r, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
