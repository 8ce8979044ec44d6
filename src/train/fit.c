/* The one epoch loop over a pn_trainer: order, batches, cancel, validation,
 * history, a checkpoint after each epoch, callbacks and resume. */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "pneumo/eval.h"
#include "ops/ops.h"
#include "pneumo/train.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"

void pn_fit_cfg_default(pn_fit_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->classes = 2;
    cfg->epochs = 5;
    cfg->batch = 32;
    cfg->lr = 1e-3;
    cfg->seed = 0;
    cfg->shuffle = 1;
    cfg->balance = PN_BALANCE_WEIGHT;
}

void pn_trainer_free(pn_trainer *t)
{
    if (t->free) t->free(t->ctx);
    memset(t, 0, sizeof *t);
}

pn_status pn_epoch_order(const pn_fit_cfg *cfg, pn_rng *g, const int *label, size_t n,
                         int64_t *order, pn_error *err)
{
    if (cfg->balance == PN_BALANCE_SAMPLE)
        return pn_balanced_sample(g, label, n, cfg->classes, order, err);
    if (cfg->shuffle) pn_rng_sampler_epoch(g, n, order);
    else
        for (size_t i = 0; i < n; i++) order[i] = (int64_t)i;
    return PN_OK;
}

void pn_head_state_free(pn_head_state *st)
{
    free(st->w); /* one block: w, b */
    free(st->hist);
    memset(st, 0, sizeof *st);
}

pn_status pn_fit_evaluate(pn_trainer *t, const pn_featset *fs, const float *cw, double *loss,
                          double *acc, float *probs, pn_error *err)
{
    const int C = t->classes, B = t->eval_batch;
    float *logits = malloc((size_t)B * C * sizeof *logits);
    if (!logits) return pn_error_set(err, PN_E_NOMEM, "evaluate: out of memory");
    double num = 0, den = 0;
    size_t correct = 0;
    pn_status st = PN_OK;
    for (size_t i = 0; i < fs->n && !st; i += (size_t)B) {
        int nb = (int)(fs->n - i < (size_t)B ? fs->n - i : (size_t)B);
        st = t->logits(t->ctx, fs->x + i * (size_t)fs->dim, nb, logits, err);
        if (st) break;
        float lf;
        st = pn__cross_entropy(nb, C, logits, fs->label + i, cw, &lf, NULL, err);
        if (st) break;
        double wsum = 0;
        for (int k = 0; k < nb; k++) wsum += cw ? cw[fs->label[i + k]] : 1.0;
        correct += pn_count_correct(logits, fs->label + i, nb, C);
        if (probs) pn_softmax(logits, nb, C, probs + i * (size_t)C);
        num += (double)lf * wsum;
        den += wsum;
    }
    free(logits);
    if (st) return st;
    *loss = den > 0 ? num / den : NAN;
    *acc = fs->n ? (double)correct / (double)fs->n : NAN;
    return PN_OK;
}

/* the configuration + training data fingerprint a checkpoint records */
static void fingerprint(const pn_fit_cfg *cfg, int fc_in, const pn_featset *tr,
                        const pn_featset *va, uint8_t out[32])
{
    pn_sha256 h;
    if (pn_sha256_init(&h, NULL)) {
        memset(out, 0, 32);
        return;
    }
    struct {
        int32_t classes, dim, batch, shuffle, balance, has_init;
        double lr;
        uint64_t seed, ntrain, nval;
    } k = {cfg->classes, tr->dim, cfg->batch, cfg->shuffle, (int)cfg->balance,
           cfg->init_w != NULL, cfg->lr, cfg->seed, tr->n, va ? va->n : 0};
    pn_sha256_update(&h, "pneumo-head-v1", 14);
    pn_sha256_update(&h, &k, sizeof k);
    pn_sha256_update(&h, tr->x, tr->n * (size_t)tr->dim * sizeof *tr->x);
    pn_sha256_update(&h, tr->label, tr->n * sizeof *tr->label);
    if (cfg->init_w) {
        pn_sha256_update(&h, cfg->init_w, (size_t)cfg->classes * fc_in * sizeof(float));
        pn_sha256_update(&h, cfg->init_b, (size_t)cfg->classes * sizeof(float));
    }
    /* the optimiser, schedule and selection, only when not the seed's (the
     * seed recipe's fingerprint stays what it was) */
    const pn_optim *o = &cfg->optim;
    if (o->kind || o->weight_decay || o->momentum || o->nesterov || o->beta1 || o->beta2 ||
        o->eps || cfg->schedule.kind || cfg->schedule.warmup || cfg->select || cfg->patience ||
        cfg->augment) {
        char txt[512], sch[256];
        pn_lr_schedule_describe(&cfg->schedule, sch, sizeof sch);
        int len = snprintf(txt, sizeof txt, "optim %d %.17g %.17g %d %.17g %.17g %.17g; %s; %d %d; %s",
                           (int)o->kind, o->weight_decay, o->momentum, o->nesterov, o->beta1,
                           o->beta2, o->eps, sch, (int)cfg->select, cfg->patience,
                           cfg->augment ? (cfg->augment_key ? cfg->augment_key : "augment") : "");
        pn_sha256_update(&h, txt, (size_t)len < sizeof txt ? (size_t)len : sizeof txt - 1);
    }
    /* bf16 training (only when on: fp32 runs keep their fingerprint), so a
     * --resume continues in the precision the run started in */
    if (cfg->bf16) pn_sha256_update(&h, "bf16-train", 10);
    pn_sha256_final(&h, out);
}

static pn_status check_inputs(const pn_fit_cfg *cfg, const pn_trainer *t, const pn_featset *tr,
                              const pn_featset *va, pn_error *err)
{
    if (cfg->classes < 2 || cfg->classes > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_ARG, "training: %d classes (need 2 to %d)", cfg->classes,
                            PN_MAX_CLASSES);
    if (cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0) || !isfinite(cfg->lr))
        return pn_error_set(err, PN_E_ARG, "training: --epochs, --batch and --lr must be positive");
    if (!tr || tr->n == 0) return pn_error_set(err, PN_E_ARG, "training: the train split is empty");
    PN_TRY(pn_optim_check(&cfg->optim, err));
    PN_TRY(pn_lr_schedule_check(&cfg->schedule, cfg->epochs, va && va->n, err));
    if (cfg->patience < 0 || (cfg->patience > 0 && cfg->select == PN_SELECT_LAST))
        return pn_error_set(err, PN_E_ARG,
                            "--patience %d needs --select best:val_loss or best:val_auc (it counts "
                            "epochs without a new best)",
                            cfg->patience);
    if (cfg->select != PN_SELECT_LAST && !(va && va->n))
        return pn_error_set(err, PN_E_ARG,
                            "--select %s needs a validation set (use --val-split 0.1)",
                            pn_select_name(cfg->select));
    if (cfg->select == PN_SELECT_VAL_AUC && cfg->classes != 2)
        return pn_error_set(err, PN_E_ARG, "--select best:val_auc needs two classes");
    if (tr->dim < 1) return pn_error_set(err, PN_E_ARG, "training: feature size %d", tr->dim);
    if (t->classes != cfg->classes || tr->dim != t->dim || cfg->batch > t->max_batch)
        return pn_error_set(err, PN_E_ARG,
                            "training: trainer/feature mismatch (%d classes, batch %d, items of "
                            "%d floats; the trainer has %d classes, batch <= %d, %d floats)",
                            cfg->classes, cfg->batch, tr->dim, t->classes, t->max_batch, t->dim);
    if (va && va->n && va->dim != tr->dim)
        return pn_error_set(err, PN_E_ARG, "training: val features have size %d, train %d",
                            va->dim, tr->dim);
    for (size_t i = 0; i < tr->n; i++)
        if (tr->label[i] < 0 || tr->label[i] >= cfg->classes)
            return pn_error_set(err, PN_E_ARG, "training: label %d of train item %zu out of range",
                                tr->label[i], i);
    return PN_OK;
}

/* st->w/b <- the trainer's fc */
static pn_status take_fc(pn_trainer *t, pn_head_state *st, pn_error *err)
{
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_status rc = t->export_state(t->ctx, &sd, err);
    const pn_tensor *w = rc ? NULL : pn_statedict_findc(&sd, "fc.weight");
    const pn_tensor *b = rc ? NULL : pn_statedict_findc(&sd, "fc.bias");
    size_t nw = (size_t)t->classes * t->fc_in;
    if (!rc && (!w || !b || w->numel != nw || b->numel != (size_t)t->classes))
        rc = pn_error_set(err, PN_E_BACKEND, "training: the trainer has no fc of (%d, %d)",
                          t->classes, t->fc_in);
    if (!rc) {
        memcpy(st->w, w->data, nw * sizeof(float));
        memcpy(st->b, b->data, (size_t)t->classes * sizeof(float));
    }
    pn_statedict_free(&sd);
    return rc;
}

/* a fresh start: seeded fc init (or cfg's), class weights */
static pn_status start(const pn_fit_cfg *cfg, pn_trainer *t, const pn_featset *train,
                       pn_head_state *st, pn_error *err)
{
    const int C = t->classes, D = t->fc_in;
    if (t->set_optim) PN_TRY(t->set_optim(t->ctx, &cfg->optim, err));
    pn_rng_seed(&st->rng, cfg->seed);
    if (cfg->init_w) {
        memcpy(st->w, cfg->init_w, (size_t)C * D * sizeof(float));
        memcpy(st->b, cfg->init_b, (size_t)C * sizeof(float));
    } else {
        pn_rng_linear_init(&st->rng, st->w, st->b, C, D);
    }
    pn_statedict sd;
    pn_statedict_init(&sd);
    int64_t ws[2] = {C, D}, bs[1] = {C};
    pn_status rc = pn_statedict_add(&sd, "fc.weight", PN_F32, 2, ws, st->w, NULL, err);
    if (!rc) rc = pn_statedict_add(&sd, "fc.bias", PN_F32, 1, bs, st->b, NULL, err);
    if (!rc) rc = t->import_state(t->ctx, &sd, 0, err);
    pn_statedict_free(&sd);
    if (rc) return rc;
    for (int c = 0; c < PN_MAX_CLASSES; c++) st->class_w[c] = 1.0f;
    if (cfg->balance == PN_BALANCE_WEIGHT)
        return pn_class_weights(train->label, train->n, C, st->class_w, err);
    return PN_OK;
}

/* The options recorded in the checkpoint that differ from this run's
 * ("--batch 16 (the checkpoint's run: 32)"), or what else can differ. */
static void differing_options(const pn_fit_cfg *cfg, char *out, size_t n)
{
    snprintf(out, n, "different data or settings");
    pn_statedict sd;
    if (!cfg->settings_json || pn_safetensors_load(cfg->checkpoint, &sd, NULL)) return;
    const char *old = pn_statedict_get_meta(&sd, "settings");
    cJSON *a = old ? cJSON_Parse(old) : NULL, *b = cJSON_Parse(cfg->settings_json);
    size_t k = 0;
    cJSON *it;
    if (a && b) {
        cJSON_ArrayForEach(it, b)
        {
            if (!strcmp(it->string, "epochs")) continue; /* --epochs may grow on resume */
            cJSON *o = cJSON_GetObjectItemCaseSensitive(a, it->string);
            char *va = o ? cJSON_PrintUnformatted(o) : NULL, *vb = cJSON_PrintUnformatted(it);
            if (vb && (!va || strcmp(va, vb))) {
                char opt[64];
                snprintf(opt, sizeof opt, "%s", it->string);
                for (char *c = opt; *c; c++)
                    if (*c == '_') *c = '-';
                int w = snprintf(out + k, n - k, "%s--%s %s (the checkpoint's run: %s)",
                                 k ? ", " : "", opt, vb, va ? va : "not recorded");
                if (w > 0) k = (size_t)w + k < n ? k + (size_t)w : n - 1;
            }
            cJSON_free(va);
            cJSON_free(vb);
        }
        if (!k) snprintf(out, n, "the same options, different training data");
    } else if (!old) {
        snprintf(out, n, "different data or settings; its options are not recorded");
    }
    cJSON_Delete(a);
    cJSON_Delete(b);
    pn_statedict_free(&sd);
}

static pn_status resume(const pn_fit_cfg *cfg, pn_trainer *t, const uint8_t fp[32],
                        pn_head_state *st, pn_error *err)
{
    if (t->set_optim) PN_TRY(t->set_optim(t->ctx, &cfg->optim, err));
    pn_status rc = pn_checkpoint_load(cfg->checkpoint, t, st, cfg->epochs, err);
    if (rc) return rc;
    if (memcmp(st->fingerprint, fp, 32)) {
        char diff[600];
        differing_options(cfg, diff, sizeof diff);
        return pn_error_set(err, PN_E_ARG,
                            "--resume: checkpoint %s belongs to another run (%s); use the same "
                            "options, or drop --resume to start over",
                            cfg->checkpoint, diff);
    }
    return PN_OK;
}

/* validation loss, accuracy and (2 classes) ROC AUC of class 1 */
static pn_status validate(pn_trainer *t, const pn_featset *val, const float *cw,
                          pn_epoch_stats *es, float *probs, pn_error *err)
{
    PN_TRY(pn_fit_evaluate(t, val, cw, &es->val_loss, &es->val_acc, probs, err));
    if (t->classes != 2) return PN_OK;
    for (size_t i = 0; i < val->n; i++) probs[i] = probs[2 * i + 1]; /* in place, forward */
    es->val_auc = pn_roc_auc(probs, val->label, val->n);
    return PN_OK;
}

/* <checkpoint minus .safetensors>-best.safetensors: the selected epoch's state */
static pn_status best_path(const pn_fit_cfg *cfg, char *buf, size_t n, pn_error *err)
{
    buf[0] = 0;
    if (!cfg->checkpoint) return PN_OK;
    size_t len = strlen(cfg->checkpoint), ext = strlen(".safetensors");
    if (len >= ext && !strcmp(cfg->checkpoint + len - ext, ".safetensors")) len -= ext;
    if ((size_t)snprintf(buf, n, "%.*s-best.safetensors", (int)len, cfg->checkpoint) >= n)
        return pn_error_set(err, PN_E_ARG, "checkpoint path too long");
    return PN_OK;
}

static pn_status best_keep(const pn_fit_cfg *cfg, pn_trainer *t, const char *path,
                           pn_statedict *best, pn_error *err)
{
    (void)cfg;
    pn_statedict_free(best);
    pn_statedict_init(best);
    PN_TRY(t->export_state(t->ctx, best, err));
    return path[0] && pn__dist_rank() == 0 ? pn_safetensors_save(path, best, err) : PN_OK;
}

/* --resume: the selected epoch so far comes back from its file */
static pn_status best_restore(const pn_fit_cfg *cfg, pn_trainer *t, const pn_head_state *st,
                              const char *path, pn_statedict *best, pn_error *err)
{
    (void)t;
    int b = pn_select_best(cfg->select, st->hist, st->epochs_done);
    if (!b) return PN_OK;
    if (!path[0] || !pn_path_exists(path))
        return pn_error_set(err, PN_E_NOTFOUND,
                            "--resume: the state of the selected epoch %d (%s) is missing; "
                            "rerun without --resume",
                            b, path[0] ? path : "no checkpoint");
    pn_statedict_free(best);
    pn_status rc = pn_safetensors_load(path, best, err);
    if (rc) pn_error_prefix(err, "--resume: ");
    return rc;
}

/* one epoch's batches: gather, step, loss and accuracy sums */
static pn_status run_epoch(const pn_fit_cfg *cfg, pn_trainer *t, const pn_featset *train,
                           const int64_t *order, const float *cw, int ep, double lr,
                           pn_head_state *st,
                           float *xb, int *yb, float *logits, pn_epoch_stats *es, pn_error *err)
{
    const size_t N = train->n, D = (size_t)train->dim, B = (size_t)cfg->batch;
    const int C = t->classes;
    double run_loss = 0;
    size_t correct = 0;
    for (size_t i0 = 0; i0 < N; i0 += B) {
        if (cfg->cancel && *cfg->cancel) {
            if (ep == 1 || !cfg->checkpoint)
                return pn_error_set(err, PN_E_INTERRUPTED,
                                    "interrupted in epoch %d, before any epoch finished: "
                                    "nothing was kept",
                                    ep);
            return pn_error_set(err, PN_E_INTERRUPTED,
                                "interrupted in epoch %d; the checkpoint of epoch %d is kept "
                                "(%s; continue with --resume)",
                                ep, ep - 1, cfg->checkpoint);
        }
        int nb = (int)(N - i0 < B ? N - i0 : B);
        for (int k = 0; k < nb; k++) {
            size_t src = (size_t)order[i0 + (size_t)k];
            memcpy(xb + (size_t)k * D, train->x + src * D, D * sizeof *xb);
            yb[k] = train->label[src];
            if (cfg->augment) {
                pn_status ra = cfg->augment(cfg->augment_ctx, &st->rng, xb + (size_t)k * D, err);
                if (ra) return pn_error_prefix(err, "epoch %d: augmenting: ", ep);
            }
        }
        float loss = 0;
        pn_status rc = t->step(t->ctx, xb, yb, nb, cw, lr, &loss, logits, err);
        if (rc == PN_E_NUMERIC || (!rc && !isfinite(loss)))
            rc = pn_error_set(err, PN_E_NUMERIC,
                              "the loss is NaN or infinite (diverged: try a lower --lr, or check "
                              "the features)");
        if (rc) return pn_error_prefix(err, "epoch %d: ", ep);
        st->step++;
        correct += pn_count_correct(logits, yb, nb, C);
        run_loss += (double)loss * nb;
        if (cfg->on_batch) cfg->on_batch(ep, i0 + (size_t)nb, N, cfg->user);
    }
    *es = (pn_epoch_stats){ep, run_loss / (double)N, (double)correct / (double)N, NAN, NAN, 0,
                           lr, NAN};
    return PN_OK;
}

pn_status pn_fit(const pn_fit_cfg *cfg, pn_trainer *t, const pn_featset *train,
                 const pn_featset *val, pn_head_state *st, pn_error *err)
{
    memset(st, 0, sizeof *st);
    pn_status rc = check_inputs(cfg, t, train, val, err);
    if (rc) return rc;
    if (cfg->resume && (!cfg->checkpoint || !pn_path_exists(cfg->checkpoint)))
        return pn_error_set(err, PN_E_NOTFOUND,
                            "--resume: %s does not exist: nothing to resume (drop --resume to "
                            "start a new run)",
                            cfg->checkpoint ? cfg->checkpoint : "(no checkpoint file given)");
    const int C = t->classes, B = cfg->batch;
    const size_t N = train->n, D = (size_t)train->dim;
    uint8_t fp[32];
    fingerprint(cfg, t->fc_in, train, val, fp);
    /* buffers, allocated once: fc (C,in)+(C), xb (B,D), yb (B), logits (B,C), order (N) */
    st->classes = C;
    st->dim = t->fc_in;
    st->w = malloc(((size_t)C * t->fc_in + C) * sizeof *st->w);
    st->hist = calloc((size_t)cfg->epochs, sizeof *st->hist);
    float *xb = malloc((size_t)B * D * sizeof *xb), *logits = malloc((size_t)B * C * sizeof *logits);
    int *yb = malloc((size_t)B * sizeof *yb);
    int64_t *order = malloc(N * sizeof *order);
    float *vprobs = val && val->n ? malloc(val->n * (size_t)C * sizeof *vprobs) : NULL;
    pn_statedict best;
    pn_statedict_init(&best);
    char bpath[4096] = "";
    if (!st->w || !st->hist || !xb || !logits || !yb || !order || (val && val->n && !vprobs)) {
        rc = pn_error_set(err, PN_E_NOMEM, "training: out of memory (batch %d of %zu floats)", B,
                          D);
        goto done;
    }
    st->b = st->w + (size_t)C * t->fc_in;
    if (cfg->resume) rc = resume(cfg, t, fp, st, err);
    else rc = start(cfg, t, train, st, err);
    if (rc) goto done;
    memcpy(st->fingerprint, fp, 32);
    st->settings_json = cfg->settings_json;
    if (cfg->select != PN_SELECT_LAST) {
        rc = best_path(cfg, bpath, sizeof bpath, err);
        if (!rc && cfg->resume) rc = best_restore(cfg, t, st, bpath, &best, err);
        if (rc) goto done;
    }
    const float *cw = cfg->balance == PN_BALANCE_WEIGHT ? st->class_w : NULL;
    int stop = pn_select_should_stop(cfg->select, cfg->patience, st->hist, st->epochs_done);
    for (int ep = st->epochs_done + 1; ep <= cfg->epochs && !rc && !stop; ep++) {
        double t0 = pn_now();
        pn_epoch_stats es;
        double lr = pn_lr_at(&cfg->schedule, cfg->lr, cfg->epochs, ep, st->hist);
        rc = pn_epoch_order(cfg, &st->rng, train->label, N, order, err);
        if (!rc) rc = run_epoch(cfg, t, train, order, cw, ep, lr, st, xb, yb, logits, &es, err);
        if (!rc && val && val->n) {
            rc = validate(t, val, cw, &es, vprobs, err);
            if (rc) pn_error_prefix(err, "epoch %d validation: ", ep);
        }
        if (rc) break;
        es.seconds = pn_now() - t0;
        st->hist[st->epochs_done++] = es;
        /* the selected epoch's state: in memory and (first) on disk, so that
         * a checkpoint never names a best epoch whose state is not saved;
         * under mpirun every rank holds the same state: rank 0 writes it */
        if (cfg->select != PN_SELECT_LAST &&
            pn_select_best(cfg->select, st->hist, st->epochs_done) == ep)
            rc = best_keep(cfg, t, bpath, &best, err);
        if (!rc && cfg->checkpoint && pn__dist_rank() == 0)
            rc = pn_checkpoint_save(cfg->checkpoint, t, st, err);
        if (!rc && cfg->on_epoch) cfg->on_epoch(&es, cfg->user);
        stop = pn_select_should_stop(cfg->select, cfg->patience, st->hist, st->epochs_done);
    }
    st->stopped_early = stop && st->epochs_done < cfg->epochs;
    st->selected_epoch = st->epochs_done;
    if (!rc && cfg->select != PN_SELECT_LAST) {
        int b = pn_select_best(cfg->select, st->hist, st->epochs_done);
        if (b && b != st->epochs_done) { /* the trainer goes back to the selected epoch */
            rc = t->import_state(t->ctx, &best, st->step, err);
            if (rc) pn_error_prefix(err, "restoring the state of epoch %d: ", b);
        }
        if (b) st->selected_epoch = b;
    }
    if (!rc) rc = take_fc(t, st, err);
done:
    pn_statedict_free(&best);
    free(vprobs);
    free(xb);
    free(logits);
    free(yb);
    free(order);
    if (rc) pn_head_state_free(st);
    return rc;
}
