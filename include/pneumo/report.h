/* pneumo: every file written for a reader (src/report/) — metrics.json,
 * predictions.csv, curves.png, confusion.png, roc.png, report.html, the
 * dataset chart of `pneumo stats` and the RGB PNG of a CAM overlay.
 *
 * Each is written atomically and checked (pn_afile): a failed write, a
 * full disk included, leaves no file, whole or half, and the error names
 * the file. Charts are drawn with cairo into an image surface (white page,
 * DejaVu Sans) and streamed to PNG; every call is thread-safe.
 *
 * NaN metrics (undefined 0/0 ratios, AUC with one class) are written as
 * JSON null and as "n/a" in the HTML tables and charts.
 */
#ifndef PNEUMO_REPORT_H
#define PNEUMO_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/dataset.h"
#include "pneumo/eval.h"
#include "pneumo/status.h"
#include "pneumo/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the report, metrics.json and the CLI say about a split whose labels
 * chose the threshold. */
#define PN_CHOSE_THRESHOLD_NOTE                                                            \
    "this split chose the threshold: its metrics at that threshold are optimistic (not an " \
    "independent estimate)"

/* The audit trail of a run (metrics.json "audit", the report's first
 * section): who ran what on which data, with which weights. */
typedef struct pn_audit {
    char version[32];               /* PNEUMO_VERSION */
    char date[32];                  /* UTC, ISO 8601: 2026-12-01T23:44:29Z */
    char host[256];
    char command_line[4096];        /* argv as typed (shell-quoted where needed) */
    char weights_sha256[65];        /* hex of the weights / model file; "" unknown */
    char weights_b_sha256[65];      /* eval's second --model; "" none */
    char data_manifest_sha256[65];  /* hex of the data manifest (each item's split, name,
                                       label and the SHA-256 of its bytes); "" unknown */
    int has_counts;
    pn_dataset_stats counts;        /* class counts per split, as used */
} pn_audit;

/* version, date, host and the command line from argv (before getopt
 * reorders it); the hashes and counts are left empty. */
void pn_audit_init(pn_audit *a, int argc, char *const *argv);

/* Predictions and metrics of one split (val or test). */
typedef struct pn_split_result {
    const char *name;           /* "val", "test", ... */
    size_t n;
    const char *const *files;   /* (N) display names */
    const int *labels;          /* (N) */
    const float *probs;         /* (N,C) softmax probabilities */
    pn_metrics m;               /* at the run's threshold (2 classes) */
    pn_roc_point *roc;          /* may be NULL */
    size_t nroc;
    /* (N) or NULL: each file's patient id (DICOM PatientID, a CSV's patient)
     * and DICOM SOPInstanceUID, NULL entries where it has none */
    const char *const *patients;
    const char *const *sop_uids;
    pn_calibration cal;         /* reliability of P(class 1), 10 bins (computed) */
    const pn_bootstrap *boot;   /* --bootstrap intervals; NULL: none */
    int chose_threshold;        /* this split's labels chose the threshold: its metrics
                                   are optimistic (labelled so everywhere) */
} pn_split_result;

typedef struct pn_run_report {
    int classes;
    const char *const *class_names; /* (C) */
    const char *const *settings;    /* key, value, key, value, ..., NULL */
    const pn_epoch_stats *hist;
    int nhist;
    double threshold;               /* on P(class 1) */
    const char *threshold_source;   /* "default", "auto (Youden's J on val)", "--threshold" */
    const float *class_weights;     /* (C) loss weights in use */
    const pn_split_result *splits;
    int nsplits;
    const char *title;              /* NULL: "pneumo training report" */
    double temperature;             /* the model's temperature scaling (0 or 1: none) */
    const pn_audit *audit;          /* NULL: none */
    /* eval --model A --model B: DeLong's paired test of the two on splits[0] */
    const pn_delong_test *compare;
    const char *compare_a, *compare_b; /* the two models' names */
    int selected_epoch;             /* the epoch whose model was saved (0: not given) */
    const char *selection;          /* why that epoch (--select / --patience), or NULL */
} pn_run_report;

/* Fill r->m, r->roc and r->cal from r->probs (column 1 = PNEUMONIA) at threshold. */
pn_status pn_split_result_compute(pn_split_result *r, int classes, double threshold,
                                  pn_error *err);
void pn_split_result_free(pn_split_result *r); /* frees roc only */

pn_status pn_write_metrics_json(const char *path, const pn_run_report *rep, pn_error *err);
/* One JSON object of metrics with their 95% intervals ("ci95") and, when
 * boot is non-NULL, the bootstrap's ("bootstrap"), for `pneumo eval
 * --json`; caller frees. */
char *pn_metrics_json_string(const pn_metrics *m, const char *const *class_names,
                             const pn_bootstrap *boot);
/* DeLong's paired test as a JSON object (a, b: the models' names). */
char *pn_delong_json_string(const pn_delong_test *t, const char *a, const char *b);
/* split,file,label,prob_<class>...,prediction (RFC 4180 quoting), and
 * patient_id,sop_uid after them when some file has one (DICOM, CSV). */
pn_status pn_write_predictions_csv(const char *path, const pn_run_report *rep, pn_error *err);

/* curves.png: loss and accuracy per epoch, train vs val (1100x450). */
pn_status pn_plot_curves(const char *path, const pn_epoch_stats *hist, int n, pn_error *err);
/* confusion.png: counts and row percentages, true label by predicted, at
 * m->threshold, with accuracy, sensitivity and specificity (520x500);
 * title names the split (may be NULL). */
pn_status pn_plot_confusion(const char *path, const pn_metrics *m, const char *const *class_names,
                            const char *title, pn_error *err);
/* roc.png: the curve through pts (non-finite points skipped), the chance
 * diagonal and the AUC (520x500; NaN auc: "undefined"). */
pn_status pn_plot_roc(const char *path, const pn_roc_point *pts, size_t n, double auc,
                      const char *title, pn_error *err);
/* The same with the operating point op (its threshold, sensitivity and
 * specificity: a ring on the curve, the numbers under the title, the AUC's
 * DeLong interval in the title); op may be NULL. */
pn_status pn_plot_roc_op(const char *path, const pn_roc_point *pts, size_t n, double auc,
                         const pn_metrics *op, const char *title, pn_error *err);

/* calibration.png: the reliability diagram (observed share of positives
 * by predicted P, with Wilson intervals, over the diagonal), Brier and ECE
 * (520x500); title names the split (may be NULL). */
pn_status pn_plot_calibration(const char *path, const pn_calibration *c, const char *pos_name,
                              const char *title, pn_error *err);

/* roc.png of two models on one set (eval --model A --model B): both
 * curves (A blue, B orange) with their operating points, the AUCs, and
 * DeLong's paired test t (may be NULL) under the title (520x500). */
pn_status pn_plot_roc_pair(const char *path, const pn_split_result *a, const pn_split_result *b,
                           const pn_delong_test *t, const char *title, pn_error *err);

/* Every output of a run into dir, each written atomically: metrics.json,
 * predictions.csv, curves.png (when rep has a history), confusion.png and
 * roc.png with the operating point and calibration.png (2 classes; of the
 * last split: test when present; with rep->compare the ROC shows both
 * splits, the two models), classes.png (the audit's class counts per
 * split), report.html. The caller writes model files. */
pn_status pn_write_run_outputs(const char *dir, const pn_run_report *rep, pn_error *err);

/* Grouped bar chart of a dataset's class counts per split with their
 * counts (`pneumo stats --chart`, 1000x640); title may be NULL. */
pn_status pn_dataset_stats_chart(const pn_dataset_stats *st, const char *title, const char *path,
                                 pn_error *err);

/* The CAM figure of pneumo predict --cam: the image rgb (H,W,3) scaled to
 * at most PN_CAM_MAX_SIDE px on its long side, cam (h,w) in [0,1] over it
 * in jet colours at an opacity that grows with the activation (0 below a
 * fifth of the peak, 0.65 at the peak), a colour bar and the caption. */
#define PN_CAM_MAX_SIDE 512
pn_status pn_plot_cam(const char *path, const uint8_t *rgb, int W, int H, const float *cam, int h,
                      int w, const char *caption, pn_error *err);

/* 8-bit RGB PNG (H,W,3), written atomically with libpng. */
pn_status pn_png_write_rgb(const char *path, const uint8_t *rgb, int W, int H, pn_error *err);

/* report.html: one self-contained page (PNGs from dir embedded as base64
 * data URIs), settings, history, metrics tables. */
pn_status pn_write_report_html(const char *path, const pn_run_report *rep, const char *png_dir,
                               pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
