/* pneumo: the training application — features (cached), head training,
 * threshold choice, evaluation and all run outputs — behind two small
 * interfaces so it runs on any image source and any backbone:
 *
 *   pn_source     the dataset: splits, display names, labels, content hashes
 *   pn_extractor  the frozen backbone: a batch of items -> (n, dim) features
 *
 * The adapters at the end connect them to pn_dataset (images, src/app/source.c)
 * and pn_infer (src/app/extractor.c); pn_recipe (src/app/recipe.c) turns a
 * --freeze level into the extractor's stage and the trainable model.
 */
#ifndef PNEUMO_APP_H
#define PNEUMO_APP_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/dataset.h"
#include "pneumo/eval.h"
#include "pneumo/model.h"
#include "pneumo/report.h"
#include "pneumo/train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* splits: PN_SPLIT_TRAIN, PN_SPLIT_VAL, PN_SPLIT_TEST of pneumo/dataset.h */
#define PN_NSPLITS PN_NUM_SPLITS

typedef struct pn_source {
    void *ctx;
    int classes;
    const char *const *class_names;
    size_t (*count)(void *ctx, int split);
    const char *(*name)(void *ctx, int split, size_t i); /* display name (file name) */
    int (*label)(void *ctx, int split, size_t i);
    /* SHA-256 of the item's raw bytes (the cache key's content part) */
    pn_status (*content_hash)(void *ctx, int split, size_t i, uint8_t out[32], pn_error *err);
    /* may be NULL: the item's patient id for the patient-grouped --val-split
     * (DICOM PatientID, a CSV's patient), NULL for the file-name rule */
    const char *(*patient)(void *ctx, int split, size_t i);
    /* may be NULL: the item's DICOM SOPInstanceUID (predictions.csv), or NULL */
    const char *(*sop_uid)(void *ctx, int split, size_t i);
} pn_source;

typedef struct pn_extractor {
    void *ctx;
    int dim;                  /* floats per item (512 for the pooled feature) */
    int max_batch;            /* items per run() call */
    const char *stage;        /* "pool", "layer3", ... (cache key) */
    const char *settings;     /* preprocessing settings text (cache key) */
    uint8_t weights_hash[32]; /* (cache key) */
    /* features of items idx[0..n) of split -> out (n, dim) */
    pn_status (*run)(void *ctx, int split, const size_t *idx, int n, float *out, pn_error *err);
} pn_extractor;

typedef void (*pn_progress_fn)(const char *what, size_t done, size_t total, void *user);

typedef struct pn_train_config {
    pn_fit_cfg fit;             /* epochs, batch, lr, seed, balance, callbacks */
    /* NULL: train the head on pooled features (--freeze fc). Otherwise the
     * engine's model (--freeze layer4/layer3/none): the extractor must give
     * the activation at pn_model_train_stage(model). pn_recipe chooses. */
    struct pn_model *model;
    double val_split;           /* > 0: carve val from train by patient; 0: use val/ */
    int threshold_auto;         /* choose it on val by threshold_rule */
    pn_op_rule threshold_rule;  /* default (zeroed): Youden's J */
    int calibrate;              /* temperature scaling fitted on val (stored in the model) */
    /* > 0: also a seeded stratified percentile bootstrap (pn_bootstrap_metrics,
     * this many resamples, seed fit.seed) of the final val and test metrics,
     * in the summary, metrics.json and the report (binary only) */
    int bootstrap;
    /* the audit trail (may be NULL): pn_train_run fills its class counts
     * (per split as used) and the data manifest's SHA-256 */
    pn_audit *audit;
    double threshold;           /* used when !threshold_auto (default 0.5) */
    /* created when missing and locked for the run (a second run into it is
     * refused); one that holds files is refused unless fit.resume or force
     * (which removes the previous run's outputs first) */
    const char *out_dir;
    int force;
    int use_cache;              /* disk cache on (default) */
    const char *cache_dir;      /* NULL: pn_cache_dir()/features */
    const char *const *settings; /* key/value pairs for the report, NULL-terminated */
    /* <out>/model.safetensors: the model (with a model), else backbone's
     * tensors + the trained head; skipped when both are NULL. Its metadata
     * gets the class names, threshold, training_json and weights_sha256. */
    const pn_statedict *backbone;
    const char *training_json;  /* may be NULL */
    const char *weights_sha256; /* hex of the source weights; may be NULL */
    /* messages for the user (warnings, weights, cache stats); may be NULL */
    void (*log)(const char *msg, void *user);
    pn_progress_fn progress;
    void *user;
} pn_train_config;

void pn_train_config_default(pn_train_config *cfg);

/* Summary of a finished run (for the CLI and tests). */
typedef struct pn_train_summary {
    double threshold;
    pn_metrics val, test; /* n == 0 when the split is absent */
    size_t cache_hits, cache_misses;
    size_t n_train, n_val, n_test;
    pn_head_state head;   /* final head (free with pn_train_summary_free) */
    double temperature, nll_before, nll_after; /* --calibrate (0: not calibrated) */
    pn_bootstrap val_boot, test_boot; /* cfg->bootstrap (reps 0: none, or no such split) */
} pn_train_summary;

pn_status pn_train_run(const pn_train_config *cfg, const pn_source *src, const pn_extractor *ex,
                       pn_train_summary *sum, pn_error *err);
void pn_train_summary_free(pn_train_summary *sum);

/* ---- the disk feature cache (`pneumo cache`) ---------------------------------
 * Entries are <dir>/<64 hex>.bin; an entry's time is when it was last
 * written or read. Stale temporary files (a killed run's) are counted apart. */
typedef struct pn_cache_stats {
    size_t entries;
    uint64_t bytes;
    size_t stale_tmp;     /* temporary files of processes that are gone */
    uint64_t stale_bytes;
    long long oldest, newest; /* entry times (Unix seconds), 0 when none */
} pn_cache_stats;

typedef struct pn_cache_prune {
    int all;                /* every entry */
    double older_than_s;    /* > 0: entries not used for this long */
    uint64_t max_bytes;     /* > 0: then the least recently used until this size */
} pn_cache_prune;

/* pn_cache_dir()/features */
pn_status pn_feature_cache_dir(char *buf, size_t n, pn_error *err);
/* A missing folder is an empty cache. */
pn_status pn_feature_cache_stats(const char *dir, pn_cache_stats *s, pn_error *err);
/* Removes what p selects and every stale temporary file; *removed and
 * *left say what went and what stays. */
pn_status pn_feature_cache_prune(const char *dir, const pn_cache_prune *p, pn_cache_stats *removed,
                                 pn_cache_stats *left, pn_error *err);

#ifdef __cplusplus
}
#endif

/* ---- adapters: a pn_dataset as a pn_source, pn_infer as a pn_extractor ---- */
#include "pneumo/image.h"
#include "pneumo/infer.h"
#include "pneumo/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_dataset_source {
    pn_source src;
    const pn_dataset *ds;
    const char *class_names[PN_MAX_CLASSES];
    int swap; /* two classes, the dataset's class 0 positive: presented as class 1 */
} pn_dataset_source;

/* Items keep the dataset's order; names are the items' display names;
 * content hashes are SHA-256 of pn_dataset_read(); patients and SOP UIDs
 * are the items' patient_id / sop_uid. */
pn_status pn_dataset_source_init(pn_dataset_source *s, const pn_dataset *ds, pn_error *err);
/* The same for training a two-class model with a positive class (the one
 * sensitivity and the threshold refer to; NULL: PNEUMONIA, and a dataset
 * without a PNEUMONIA class is PN_E_ARG asking for --positive): the
 * positive class is presented as class 1 (the model's second class), the
 * labels of the other as 0. Data whose class 1 is already positive are
 * presented as they are. */
pn_status pn_dataset_source_init_positive(pn_dataset_source *s, const pn_dataset *ds,
                                          const char *positive, pn_error *err);

typedef struct pn_infer_extractor {
    pn_extractor ex;
    const pn_dataset *ds;
    pn_infer *engine;
    int batch, threads, skip_bad;
    int size;          /* input side (the loader's images, the engine's input) */
    pn_decode_opts decode;
    float *x;          /* (chunk, 3, size, size): a decoded chunk (128 images) */
    float *feat;       /* (batch, dim) */
    size_t *rows;      /* (chunk) */
    size_t skipped;    /* unreadable items left out (skip_bad) */
    pn_bad_list bad;   /* those items with their reasons */
    char settings[256];
} pn_infer_extractor;

/* Backbone outputs at `stage` (a pn_stage: PN_STAGE_POOL = the 512-d
 * pooled feature, PN_STAGE_LAYER3/LAYER2 = boundary activations;
 * PN_STAGE_INPUT = the preprocessed input itself, no engine) of dataset items through the
 * loader (threads workers) and the infer engine (batch, threads, mode: PN_INFER_*
 * flags of infer.h, 1 = bf16 as before; with PN_INFER_INT8 and weights
 * without an int8 calibration, the engine is calibrated first on up to 64
 * training images, spread evenly over the split).
 * weights_hash: SHA-256 of the weights file (cache key). With skip_bad,
 * unreadable items get NaN features (dropped by pn_train_run, never cached). */
pn_status pn_infer_extractor_init(pn_infer_extractor *e, const pn_dataset *ds,
                                  const pn_statedict *sd, const uint8_t weights_hash[32],
                                  pn_stage stage, int batch, int threads, int mode, int fast_decode,
                                  int skip_bad, pn_error *err);
/* The decode policy besides fast_decode (png16, min_side, max_pixels), after
 * init; a policy other than the default is part of the cache key. */
void pn_infer_extractor_set_decode(pn_infer_extractor *e, const pn_decode_opts *o);
void pn_infer_extractor_free(pn_infer_extractor *e);

/* ---- evaluating a classifier on a dataset split ------------------------------ */

typedef struct pn_eval_config {
    int threads, bf16, fast_decode, skip_bad; /* the batch is the classifier's; bf16: PN_INFER_* flags (infer.h, 1 = bf16) */
    int png16;                /* pn_png16 for 16-bit PNGs (pn_decode_opts.png16) */
    int use_cache;            /* pooled features through the disk cache (default 1) */
    const char *cache_dir;    /* NULL: pn_cache_dir()/features */
    int manifest;             /* compute manifest_sha256 */
    pn_progress_fn progress;  /* the feature pass (may be NULL) */
    void *user;
} pn_eval_config;

void pn_eval_config_default(pn_eval_config *c);

typedef struct pn_eval_probs {
    size_t n;             /* readable items */
    float *probs;         /* (n, C) */
    int *labels;          /* (n) */
    const char **names;   /* (n) the items' display names (the dataset's) */
    /* (n) the items' patient ids and DICOM SOPInstanceUIDs (the dataset's),
     * NULL entries where an item has none (predictions.csv's last columns) */
    const char **patients, **sop_uids;
    pn_bad_list bad;      /* items left out (skip_bad), with their reasons */
    size_t cache_hits, cache_misses;
    uint8_t manifest_sha256[32]; /* of "split\tname\tlabel\tsha256(bytes)\n" per item */
} pn_eval_probs;

/* The probabilities of c (opened from the file whose SHA-256 is
 * model_sha256, the cache key) on every item of split: pooled features
 * through the disk cache (a second eval of the same set reads them), then
 * c's head (pn_classifier_head). PN_E_ARG for an empty split. */
pn_status pn_eval_split_probs(pn_classifier *c, const uint8_t model_sha256[32],
                              const pn_dataset *ds, pn_split split, const pn_eval_config *cfg,
                              pn_eval_probs *out, pn_error *err);
void pn_eval_probs_free(pn_eval_probs *p);

/* ---- the freeze-level recipe ------------------------------------------------ */

typedef struct pn_recipe {
    pn_freeze freeze;
    pn_stage stage;   /* where the extractor stops; PN_STAGE_INPUT: the preprocessed image */
    int use_cache;    /* 0 when the cache cannot pay off (--freeze none: items are images) */
    struct pn_model *model; /* the trainable model; NULL for --freeze fc (head alone) */
} pn_recipe;

/* What a --freeze level trains and caches (from_input: nothing cached, the
 * model trains from the image at every level, fc included): fc -> the pooled feature, the
 * head alone; layer4 -> layer3's output, layer4 + fc of a pn_model made
 * from sd (fc fresh); layer3 -> layer2's output; none -> the image.
 * sd NULL (--weights none, only with --freeze none): torchvision's random
 * initialisation from seed (pn_model_init_torchvision). classes, batch
 * (the model's max batch) and threads size the model. bf16: its trainable
 * convs in bfloat16 (pn_model_config.bf16; without CPU support the model is
 * f32 and err->msg holds a notice while the status is PN_OK). */
pn_status pn_recipe_init(pn_recipe *r, pn_freeze freeze, const pn_statedict *sd, uint64_t seed,
                         int from_input, int classes, int batch, int threads, int bf16,
                         pn_error *err);

/* --augment: the pn_fit_cfg.augment callback over preprocessed 224x224
 * network inputs. Each item (the decoded, resized base image, kept in memory
 * as its normalized tensor) goes back to its exact RGB bytes, through
 * pn_augment_sample + pn_augment_apply (pneumo/augment.h) with the training
 * generator, and through ToTensor + Normalize again. */
#include "pneumo/augment.h"
typedef struct pn_augment_items {
    pn_augment aug;
    int size;
    pn_image base, out, tmp;
    char key[256]; /* pn_augment_describe, for the checkpoint fingerprint */
} pn_augment_items;
void pn_augment_items_init(pn_augment_items *a, const pn_augment *aug, int size);
void pn_augment_items_free(pn_augment_items *a);
pn_status pn_augment_items_run(void *ctx, pn_rng *g, float *item, pn_error *err);
void pn_recipe_free(pn_recipe *r);

#ifdef __cplusplus
}
#endif
#endif
