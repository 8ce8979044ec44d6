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
    int selected_epoch;             /* the epoch whose model was saved (0: not given) */
    const char *selection;          /* why that epoch (--select / --patience), or NULL */
} pn_run_report;

/* Fill r->m and r->roc from r->probs (column 1 = PNEUMONIA) at threshold. */
pn_status pn_split_result_compute(pn_split_result *r, int classes, double threshold,
                                  pn_error *err);
void pn_split_result_free(pn_split_result *r); /* frees roc only */

pn_status pn_write_metrics_json(const char *path, const pn_run_report *rep, pn_error *err);
/* One JSON object of metrics (for `pneumo eval --json`); caller frees. */
char *pn_metrics_json_string(const pn_metrics *m, const char *const *class_names);
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

/* Grouped bar chart of a dataset's class counts per split with their
 * counts (`pneumo stats --chart`, 1000x640); title may be NULL. */
pn_status pn_dataset_stats_chart(const pn_dataset_stats *st, const char *title, const char *path,
                                 pn_error *err);

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
