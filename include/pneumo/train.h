/* pneumo: training the classifier head on cached features, class balance,
 * patient-grouped validation splits, checkpoints and resume.
 *
 * The default recipe (the seed notebook's): backbone frozen in eval mode,
 * so each image's pooled 512-d feature is computed once; a new
 * Linear(512, C) head initialised as nn.Linear after torch.manual_seed(seed);
 * cross-entropy; Adam lr 1e-3; 5 epochs; batch 32; each epoch shuffled as a
 * DataLoader(shuffle=True) drawing from the same generator (pneumo/rng.h).
 */
#ifndef PNEUMO_TRAIN_H
#define PNEUMO_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/model.h" /* pn_optim */
#include "pneumo/rng.h"
#include "pneumo/status.h"
#include "pneumo/tensor.h" /* PN_MAX_CLASSES */

#ifdef __cplusplus
extern "C" {
#endif


typedef enum pn_balance {
    PN_BALANCE_WEIGHT = 0, /* loss weights w_c = N / (C * n_c) (default) */
    PN_BALANCE_SAMPLE,     /* balanced sampling with replacement, plain loss */
    PN_BALANCE_NONE,       /* the seed notebook's plain loss */
} pn_balance;

/* "weight" / "sample" / "none" <-> enum; PN_E_ARG on an unknown name. */
pn_status pn_balance_parse(const char *s, pn_balance *out, pn_error *err);
const char *pn_balance_name(pn_balance b);

/* Inverse-frequency class weights w_c = N / (C * n_c) over n labels in
 * [0,C). PN_E_ARG when a class has no items (names it by index). */
pn_status pn_class_weights(const int *label, size_t n, int classes, float *w, pn_error *err);

/* Balanced sampling: n draws with replacement; each draw picks a class
 * uniformly (u32 % C) then an item of it uniformly (u32 % n_c). Not the
 * torch WeightedRandomSampler stream; deterministic for a given generator. */
pn_status pn_balanced_sample(pn_rng *g, const int *label, size_t n, int classes, int64_t *out,
                             pn_error *err);

/* Carve a validation set out of n training items, grouped by patient
 * (pn_patient_id() of pneumo/dataset.h on names[i]) and stratified by label: patients are visited
 * in a seeded random order and a patient goes to validation while its
 * class's validation count is below round(fraction * n_c). No patient is ever
 * in both sets. is_val[i] = 1 for validation items. PN_E_ARG when fraction is
 * not in (0,1) or a set would end up without some class. */
pn_status pn_val_split(const char *const *names, const int *label, size_t n, int classes,
                       double fraction, uint64_t seed, unsigned char *is_val, pn_error *err);
/* The same with the patients given: patients[i] is item i's patient id
 * (DICOM PatientID, a CSV's patient column: pn_item.patient_id), or NULL
 * (or patients NULL) for the file-name rule pn_patient_id(names[i]). With
 * every patients[i] NULL this is pn_val_split. */
pn_status pn_val_split_patients(const char *const *names, const char *const *patients,
                                const int *label, size_t n, int classes, double fraction,
                                uint64_t seed, unsigned char *is_val, pn_error *err);

/* ---- the epoch loop over a trainer ---------------------------------------- */

typedef struct pn_featset {
    size_t n;
    int dim;
    const float *x;   /* (N, D) row-major */
    const int *label; /* (N) in [0, C) */
} pn_featset;

typedef struct pn_epoch_stats {
    int epoch; /* 1-based */
    double train_loss, train_acc;
    double val_loss, val_acc; /* NaN without a validation set */
    double seconds;
    double lr;      /* the learning rate of the epoch */
    double val_auc; /* ROC AUC of class 1 on validation (2 classes), else NaN */
} pn_epoch_stats;

/* ---- learning-rate schedules (per epoch, torch.optim.lr_scheduler) -------- */

typedef enum pn_lr_kind {
    PN_LR_CONSTANT = 0, /* the base lr every epoch */
    PN_LR_STEP,         /* MultiStepLR: x gamma after each milestone epoch */
    PN_LR_COSINE,       /* CosineAnnealingLR(T_max = epochs - warmup, eta_min 0) */
    PN_LR_PLATEAU,      /* ReduceLROnPlateau(mode min on val_loss, factor, patience) */
} pn_lr_kind;

#define PN_LR_MAX_MILESTONES 16
typedef struct pn_lr_schedule {
    pn_lr_kind kind;
    int warmup;          /* epochs of LinearLR(start_factor 1/(warmup+1), total_iters warmup) */
    int milestones[PN_LR_MAX_MILESTONES], nmilestones; /* step: epochs (1-based: after epoch E) */
    double gamma;        /* step: factor */
    int patience;        /* plateau: epochs without improvement before a cut (torch: 10) */
    double factor;       /* plateau: factor (torch: 0.1) */
} pn_lr_schedule;

/* "constant", "step:E1,E2,...:GAMMA", "cosine", "plateau[:PATIENCE[:FACTOR]]";
 * warmup is set separately. PN_E_ARG with the reason. */
pn_status pn_lr_schedule_parse(const char *s, pn_lr_schedule *out, pn_error *err);
/* "cosine", "step:10,20:0.1", ... (+ " warmup 2") into buf */
void pn_lr_schedule_describe(const pn_lr_schedule *s, char *buf, size_t n);
/* PN_E_ARG when the schedule cannot run for `epochs` epochs (milestones not
 * after the warmup or past the end, warmup >= epochs, plateau without val). */
pn_status pn_lr_schedule_check(const pn_lr_schedule *s, int epochs, int has_val, pn_error *err);
/* The learning rate of epoch e (1-based) for base lr `base`, as the torch
 * schedulers give it when stepped once per epoch (SequentialLR([LinearLR,
 * main], milestones=[warmup]) with a warmup; plateau stepped with each
 * post-warmup epoch's val_loss): replayed from the start, so it depends on
 * hist[0..e-1) (plateau reads val_loss) and nothing else: a resumed run
 * gets the same rates. */
double pn_lr_at(const pn_lr_schedule *s, double base, int epochs, int e,
                const pn_epoch_stats *hist);

/* ---- model selection and early stopping ----------------------------------- */

typedef enum pn_select_kind {
    PN_SELECT_LAST = 0,    /* the last epoch's model (the seed's) */
    PN_SELECT_VAL_LOSS,    /* the epoch with the lowest validation loss */
    PN_SELECT_VAL_AUC,     /* the epoch with the highest validation ROC AUC */
} pn_select_kind;

/* "last", "best:val_loss", "best:val_auc" <-> enum */
pn_status pn_select_parse(const char *s, pn_select_kind *out, pn_error *err);
const char *pn_select_name(pn_select_kind k);

/* Over the history h[0..n): the selected epoch (1-based; the first of
 * equals; the last epoch for PN_SELECT_LAST; epochs whose metric is NaN
 * never win, 0 when none has one) and, with patience > 0, whether training
 * stops after h[n-1]: patience epochs in a row without a strict
 * improvement of the best. */
int pn_select_best(pn_select_kind k, const pn_epoch_stats *h, int n);
int pn_select_should_stop(pn_select_kind k, int patience, const pn_epoch_stats *h, int n);
/* One sentence on the choice: "epoch 3 of 5: lowest val_loss 0.2112; stopped
 * early after epoch 5 (2 epochs without improvement, --patience 2)" (the
 * last part when stopped). */
void pn_select_describe(pn_select_kind k, int patience, int stopped, const pn_epoch_stats *h, int n,
                        char *buf, size_t len);

typedef struct pn_fit_cfg {
    int classes;    /* C (2) */
    int epochs;     /* 5 */
    int batch;      /* 32 */
    double lr;      /* 1e-3 */
    uint64_t seed;  /* torch.manual_seed */
    int shuffle;    /* 1: DataLoader(shuffle=True) order; 0: file order */
    pn_balance balance;
    pn_optim optim;             /* the optimiser (all zero: Adam, the seed's) */
    pn_lr_schedule schedule;    /* per-epoch lr (all zero: constant lr) */
    pn_select_kind select;      /* which epoch's model is the result (default: last) */
    int patience;               /* > 0: stop after this many epochs without improvement */
    const float *init_w, *init_b; /* optional initial fc (C,in),(C); else seeded nn.Linear init */
    /* optional per-item transform (augmentation): called on each gathered
     * training item (dim floats, in place) in batch order with the training
     * generator, as a DataLoader's transforms draw from torch's global one;
     * augment_key names it in the checkpoint fingerprint */
    pn_status (*augment)(void *ctx, pn_rng *g, float *item, pn_error *err);
    void *augment_ctx;
    const char *augment_key;
    int bf16;                     /* the model trains in bf16 (pn_model_is_bf16): in the fingerprint */
    const char *checkpoint;       /* written after each epoch (atomically), or NULL */
    int resume;                   /* continue from checkpoint (PN_E_NOTFOUND when missing) */
    /* the run's options as a JSON object, recorded in the checkpoint ("settings")
     * so that a refused --resume names the options that differ; may be NULL */
    const char *settings_json;
    /* callbacks (may be NULL) */
    void (*on_epoch)(const pn_epoch_stats *s, void *user);
    void (*on_batch)(int epoch, size_t done, size_t total, void *user);
    void *user;
    volatile const int *cancel; /* non-zero: stop after the current batch */
} pn_fit_cfg;

void pn_fit_cfg_default(pn_fit_cfg *cfg);

/* What trains: a small interface with two implementations, the head on raw
 * features (pn_head_trainer_create) and a pn_model from its train stage
 * (pn_suffix_trainer_create). Items are `dim` floats; the trained model
 * ends in fc (classes, fc_in). */
typedef struct pn_trainer {
    void *ctx;
    const char *kind;  /* "head" or "suffix" (checkpoint kind) */
    const char *level; /* the --freeze level it trains ("fc", "layer4", ...) */
    int classes, dim, fc_in;
    int max_batch;     /* items per step() call */
    int eval_batch;    /* items per logits() call */
    /* batch x (n, dim), y (n) -> mean loss (class weights cw or NULL) and
     * logits (n, C): forward, loss, backward, one optimiser step (lr) */
    pn_status (*step)(void *ctx, const float *x, const int *y, int n, const float *cw, double lr,
                      float *loss, float *logits, pn_error *err);
    /* forward only (eval mode): x (n, dim) -> logits (n, C), n <= eval_batch */
    pn_status (*logits)(void *ctx, const float *x, int n, float *logits, pn_error *err);
    /* state -> sd: parameters (torchvision names, OIHW), buffers, and the
     * optimiser state as optim.<state>.<name> (pn_optim_state_names:
     * optim.exp_avg.<name> / optim.exp_avg_sq.<name> for Adam) */
    pn_status (*export_state)(void *ctx, pn_statedict *sd, pn_error *err);
    /* sd -> state: the tensors of sd are set (names as export_state; a
     * tensor sd lacks keeps its value), Adam's step count becomes step */
    pn_status (*import_state)(void *ctx, const pn_statedict *sd, long step, pn_error *err);
    void (*free)(void *ctx);
    /* the optimiser of the following steps (before import_state) */
    pn_status (*set_optim)(void *ctx, const pn_optim *o, pn_error *err);
} pn_trainer;

/* Head trainer: Linear(dim, classes) + cross-entropy + Adam on raw
 * features; its state is fc.weight, fc.bias and their moments. */
pn_status pn_head_trainer_create(pn_trainer *t, int classes, int dim, int max_batch,
                                 pn_error *err);
/* Model-suffix trainer: the trainable part of m (pn_model_train_stage(m)
 * on) with the model's own backward and Adam; items are activations at the
 * train stage. m stays owned by the caller. */
struct pn_model;
pn_status pn_suffix_trainer_create(pn_trainer *t, struct pn_model *m, pn_error *err);
/* The same from an earlier stage (<= pn_model_train_stage(m); the frozen
 * part between runs in eval mode each step): items are activations at
 * `from` (PN_STAGE_INPUT: images, for augmentation). */
pn_status pn_suffix_trainer_create_at(pn_trainer *t, struct pn_model *m, int from, pn_error *err);
void pn_trainer_free(pn_trainer *t);

/* The item order of one epoch: balanced sample (--balance sample), the
 * DataLoader(shuffle=True) order (shuffle), or 0..n-1. */
pn_status pn_epoch_order(const pn_fit_cfg *cfg, pn_rng *g, const int *label, size_t n,
                         int64_t *order, pn_error *err);

/* Training state and result, whatever the trainer: fc (one block: w
 * (classes, fc_in) then b (classes)), the generator, history, class
 * weights and the fingerprint of the configuration and data. */
typedef struct pn_head_state {
    int classes, dim;        /* dim: fc_in */
    float *w, *b;            /* (C,dim), (C); b points into w's block */
    long step;               /* Adam steps taken */
    int epochs_done;
    pn_rng rng;              /* generator after the last finished epoch */
    float class_w[PN_MAX_CLASSES]; /* loss weights in use (all 1 unless --balance weight) */
    pn_epoch_stats *hist;    /* epochs_done entries */
    int selected_epoch;      /* the epoch whose model st->w/b and the trainer hold */
    int stopped_early;       /* 1 when --patience ended training before cfg->epochs */
    uint8_t fingerprint[32]; /* configuration + training data this state belongs to */
    const char *settings_json; /* borrowed from pn_fit_cfg: written into checkpoints */
} pn_head_state;
void pn_head_state_free(pn_head_state *st);

/* The one epoch loop: seeds (or, with cfg->resume, restores from
 * cfg->checkpoint: refused when it belongs to another run) and trains t
 * for the remaining epochs, with validation on val (may be NULL), the
 * history, a checkpoint after each epoch and the callbacks. On success *st
 * holds the final fc and the history (free with pn_head_state_free).
 * PN_E_INTERRUPTED when cancelled: the checkpoint of the last finished
 * epoch stays valid for resume. */
pn_status pn_fit(const pn_fit_cfg *cfg, pn_trainer *t, const pn_featset *train,
                 const pn_featset *val, pn_head_state *st, pn_error *err);

/* Loss (with class weights cw or NULL), accuracy and softmax probabilities
 * (N,C) (probs may be NULL) of the trainer's current model on fs. */
pn_status pn_fit_evaluate(pn_trainer *t, const pn_featset *fs, const float *cw, double *loss,
                          double *acc, float *probs, pn_error *err);

/* pn_fit with a head trainer: the seed's recipe on features. */
pn_status pn_head_train(const pn_fit_cfg *cfg, const pn_featset *train, const pn_featset *val,
                        pn_head_state *st, pn_error *err);

/* Checkpoints: one safetensors file holding the trainer's state
 * (export_state), rng.mt19937 (I64: 624 words, left, seed) and in the
 * metadata the kind, format version, Adam step, epochs done, fingerprint,
 * freeze level, class weights and history (JSON), plus a SHA-256 of the
 * tensor data. Written atomically. Load checks all of it against t (names
 * and shapes of its export_state), imports the state into t and fills st's
 * step, epochs, generator, class weights, fingerprint and history
 * (max(hist_cap, epochs_done) entries); st->w/b are not touched. */
pn_status pn_checkpoint_save(const char *path, pn_trainer *t, const pn_head_state *st,
                             pn_error *err);
pn_status pn_checkpoint_load(const char *path, pn_trainer *t, pn_head_state *st, int hist_cap,
                             pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
