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
 */
#ifndef PNEUMO_EVAL_H
#define PNEUMO_EVAL_H

#include <stddef.h>

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
 * original image; writes an RGB PNG of the image's size at png_path. */
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
