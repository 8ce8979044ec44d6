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

/* ---- head training on features ------------------------------------------ */

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
} pn_epoch_stats;

typedef struct pn_head_train_cfg {
    int classes;    /* C (2) */
    int epochs;     /* 5 */
    int batch;      /* 32 */
    double lr;      /* 1e-3 */
    uint64_t seed;  /* torch.manual_seed */
    int shuffle;    /* 1: DataLoader(shuffle=True) order; 0: file order */
    pn_balance balance;
    const float *init_w, *init_b; /* optional initial head (C,D),(C); else seeded init */
    const char *checkpoint;       /* written after each epoch (atomically), or NULL */
    int resume;                   /* continue from checkpoint (PN_E_NOTFOUND when missing) */
    /* callbacks (may be NULL) */
    void (*on_epoch)(const pn_epoch_stats *s, void *user);
    void (*on_batch)(int epoch, size_t done, size_t total, void *user);
    void *user;
    volatile const int *cancel; /* non-zero: stop after the current batch */
} pn_head_train_cfg;

void pn_head_train_cfg_default(pn_head_train_cfg *cfg);

/* The item order of one epoch: balanced sample (--balance sample), the
 * DataLoader(shuffle=True) order (shuffle), or 0..n-1. */
pn_status pn_epoch_order(const pn_head_train_cfg *cfg, pn_rng *g, const int *label, size_t n,
                         int64_t *order, pn_error *err);

typedef struct pn_head_state {
    int classes, dim;
    float *w, *b;            /* (C,D), (C) */
    float *mw, *vw, *mb, *vb; /* Adam moments */
    long step;               /* Adam steps taken */
    int epochs_done;
    pn_rng rng;              /* generator after the last finished epoch */
    float class_w[PN_MAX_CLASSES]; /* loss weights in use (all 1 unless --balance weight) */
    pn_epoch_stats *hist;    /* epochs_done entries */
    uint8_t fingerprint[32]; /* configuration + training data this state belongs to */
} pn_head_state;

/* Train (or resume) the head. On success *st holds the final head and the
 * history (free with pn_head_state_free). PN_E_INTERRUPTED when cancelled:
 * the checkpoint of the last finished epoch stays valid for resume. */
pn_status pn_head_train(const pn_head_train_cfg *cfg, const pn_featset *train,
                        const pn_featset *val, pn_head_state *st, pn_error *err);
void pn_head_state_free(pn_head_state *st);

/* Loss (with class weights cw or NULL), accuracy and softmax probabilities
 * (N,C) (probs may be NULL) of a head over a feature set. */
pn_status pn_head_evaluate(const float *w, const float *b, int classes, const pn_featset *fs,
                           const float *cw, double *loss, double *acc, float *probs,
                           pn_error *err);

/* ---- deeper freeze levels (the engine's trainable ResNet-18) ------------
 * Features are the activations at pn_model_train_stage(m) (layer3 output
 * for --freeze layer4, layer2 output for layer3, the input for none); the
 * trainable suffix (BN in training mode) and fc train with the model's own
 * Adam. The fc head is initialised like pn_head_train's (seeded nn.Linear).
 * With cfg->checkpoint a deep checkpoint (pn_deep_checkpoint_save) is
 * written after each epoch; cfg->resume loads it (model, Adam state,
 * generator, history) and continues after its last epoch, giving the same
 * model as an unbroken run. st gets the history, class weights and a copy
 * of fc. */
struct pn_model;
pn_status pn_model_train_feats(struct pn_model *m, const pn_head_train_cfg *cfg,
                               const pn_featset *train, const pn_featset *val,
                               pn_head_state *st, pn_error *err);
/* Loss, accuracy and softmax probabilities (N,C) (may be NULL) of the model
 * from its train stage on a feature set (eval mode). */
pn_status pn_model_evaluate_feats(struct pn_model *m, const pn_featset *fs, const float *cw,
                                  double *loss, double *acc, float *probs, pn_error *err);

/* Checkpoint files: save / load a head state (versioned binary with a
 * SHA-256 trailer; written atomically). Load checks the magic, version,
 * sizes and checksum. */
pn_status pn_checkpoint_save(const char *path, const pn_head_state *st, pn_error *err);
pn_status pn_checkpoint_load(const char *path, pn_head_state *st, pn_error *err);
/* The configuration + training data fingerprint a checkpoint records. */
void pn_head_fingerprint(const pn_head_train_cfg *cfg, const pn_featset *train,
                         const pn_featset *val, uint8_t out[32]);
/* Deep checkpoints (--freeze layer4/layer3/none): the model's full state
 * (pn_model_save), its Adam state (raw, with a layout hash: a checkpoint of
 * another freeze level, class count or weight layout is refused), and of st
 * the generator, epochs, class weights, fingerprint and history. Load
 * restores the model and fills those fields of st (st->hist gets
 * max(hist_cap, epochs_done) entries; st->w etc. are not touched). */
pn_status pn_deep_checkpoint_save(const char *path, struct pn_model *m, const pn_head_state *st,
                                  pn_error *err);
pn_status pn_deep_checkpoint_load(const char *path, struct pn_model *m, pn_head_state *st,
                                  int hist_cap, pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
