/* The head training loop on feature sets: epochs, batches, Adam, history,
 * a checkpoint after each epoch and resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/head.h"
#include "ops/ops.h"
#include "pneumo/train.h"
#include "pneumo/util.h"

void pn_head_train_cfg_default(pn_head_train_cfg *cfg)
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

pn_status pn_epoch_order(const pn_head_train_cfg *cfg, pn_rng *g, const int *label, size_t n,
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
    free(st->w); /* one block: w, b, mw, vw, mb, vb */
    free(st->hist);
    memset(st, 0, sizeof *st);
}

/* one allocation for the parameters and Adam moments */
static pn_status state_alloc(pn_head_state *st, int classes, int dim, int max_epochs, pn_error *err)
{
    size_t nw = (size_t)classes * dim, nb = (size_t)classes;
    float *blk = calloc(3 * (nw + nb), sizeof *blk);
    pn_epoch_stats *h = calloc((size_t)(max_epochs > 0 ? max_epochs : 1), sizeof *h);
    if (!blk || !h) {
        free(blk);
        free(h);
        return pn_error_set(err, PN_E_NOMEM, "head state: out of memory");
    }
    st->classes = classes;
    st->dim = dim;
    st->w = blk;
    st->mw = blk + nw;
    st->vw = blk + 2 * nw;
    st->b = blk + 3 * nw;
    st->mb = st->b + nb;
    st->vb = st->b + 2 * nb;
    st->hist = h;
    return PN_OK;
}

pn_status pn_head_evaluate(const float *w, const float *b, int classes, const pn_featset *fs,
                           const float *cw, double *loss, double *acc, float *probs,
                           pn_error *err)
{
    enum { CHUNK = 256 };
    float *logits = malloc((size_t)CHUNK * classes * sizeof *logits);
    if (!logits) return pn_error_set(err, PN_E_NOMEM, "evaluate: out of memory");
    double num = 0, den = 0;
    size_t correct = 0;
    pn_status st = PN_OK;
    for (size_t i = 0; i < fs->n && !st; i += CHUNK) {
        int nb = (int)(fs->n - i < CHUNK ? fs->n - i : CHUNK);
        pn__linear_forward(nb, fs->dim, classes, fs->x + i * fs->dim, w, b, logits);
        float lf;
        st = pn__cross_entropy(nb, classes, logits, fs->label + i, cw, &lf, NULL, err);
        if (st) break;
        double l = lf;
        if (probs) pn_softmax(logits, nb, classes, probs + i * classes);
        double wsum = 0;
        for (int k = 0; k < nb; k++) wsum += cw ? cw[fs->label[i + k]] : 1.0;
        correct += pn_count_correct(logits, fs->label + i, nb, classes);
        num += l * wsum;
        den += wsum;
    }
    free(logits);
    if (st) return st;
    *loss = den > 0 ? num / den : NAN;
    *acc = fs->n ? (double)correct / (double)fs->n : NAN;
    return PN_OK;
}

void pn_head_fingerprint(const pn_head_train_cfg *cfg, const pn_featset *tr, const pn_featset *va,
                        uint8_t out[32])
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
        pn_sha256_update(&h, cfg->init_w, (size_t)cfg->classes * tr->dim * sizeof(float));
        pn_sha256_update(&h, cfg->init_b, (size_t)cfg->classes * sizeof(float));
    }
    pn_sha256_final(&h, out);
}

static pn_status check_inputs(const pn_head_train_cfg *cfg, const pn_featset *tr,
                              const pn_featset *va, pn_error *err)
{
    if (cfg->classes < 2 || cfg->classes > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_ARG, "training: %d classes (need 2 to %d)", cfg->classes,
                            PN_MAX_CLASSES);
    if (cfg->epochs < 1 || cfg->batch < 1 || !(cfg->lr > 0) || !isfinite(cfg->lr))
        return pn_error_set(err, PN_E_ARG, "training: --epochs, --batch and --lr must be positive");
    if (!tr || tr->n == 0) return pn_error_set(err, PN_E_ARG, "training: the train split is empty");
    if (tr->dim < 1) return pn_error_set(err, PN_E_ARG, "training: feature size %d", tr->dim);
    if (va && va->n && va->dim != tr->dim)
        return pn_error_set(err, PN_E_ARG, "training: val features have size %d, train %d",
                            va->dim, tr->dim);
    for (size_t i = 0; i < tr->n; i++)
        if (tr->label[i] < 0 || tr->label[i] >= cfg->classes)
            return pn_error_set(err, PN_E_ARG, "training: label %d of train item %zu out of range",
                                tr->label[i], i);
    return PN_OK;
}

pn_status pn_head_train(const pn_head_train_cfg *cfg, const pn_featset *train,
                        const pn_featset *val, pn_head_state *st, pn_error *err)
{
    memset(st, 0, sizeof *st);
    pn_status rc = check_inputs(cfg, train, val, err);
    if (rc) return rc;
    const int C = cfg->classes, D = train->dim, B = cfg->batch;
    const size_t N = train->n;
    uint8_t fp[32];
    pn_head_fingerprint(cfg, train, val, fp);

    if (cfg->resume && (!cfg->checkpoint || !pn_path_exists(cfg->checkpoint)))
        return pn_error_set(err, PN_E_NOTFOUND,
                            "--resume: %s does not exist: nothing to resume (drop --resume to "
                            "start a new run)",
                            cfg->checkpoint ? cfg->checkpoint : "(no checkpoint file given)");
    if (cfg->resume) {
        pn_head_state ck;
        rc = pn_checkpoint_load(cfg->checkpoint, &ck, err);
        if (rc) {
            pn_error_prefix(err, "--resume: ");
            return rc;
        }
        if (memcmp(ck.fingerprint, fp, 32) || ck.classes != C || ck.dim != D) {
            pn_head_state_free(&ck);
            return pn_error_set(err, PN_E_ARG,
                                "--resume: checkpoint %s belongs to another run (different data "
                                "or settings); use the same options, or drop --resume to start "
                                "over",
                                cfg->checkpoint);
        }
        rc = state_alloc(st, C, D, cfg->epochs > ck.epochs_done ? cfg->epochs : ck.epochs_done,
                         err);
        if (rc) {
            pn_head_state_free(&ck);
            return rc;
        }
        size_t nw = (size_t)C * D;
        memcpy(st->w, ck.w, (3 * (nw + C)) * sizeof(float));
        memcpy(st->hist, ck.hist, (size_t)ck.epochs_done * sizeof *st->hist);
        st->step = ck.step;
        st->epochs_done = ck.epochs_done;
        st->rng = ck.rng;
        memcpy(st->class_w, ck.class_w, sizeof st->class_w);
        pn_head_state_free(&ck);
    } else {
        rc = state_alloc(st, C, D, cfg->epochs, err);
        if (rc) return rc;
        pn_rng_seed(&st->rng, cfg->seed);
        if (cfg->init_w) {
            memcpy(st->w, cfg->init_w, (size_t)C * D * sizeof(float));
            memcpy(st->b, cfg->init_b, (size_t)C * sizeof(float));
        } else {
            pn_rng_linear_init(&st->rng, st->w, st->b, C, D);
        }
        for (int c = 0; c < PN_MAX_CLASSES; c++) st->class_w[c] = 1.0f;
        if (cfg->balance == PN_BALANCE_WEIGHT) {
            rc = pn_class_weights(train->label, N, C, st->class_w, err);
            if (rc) goto fail;
        }
    }
    memcpy(st->fingerprint, fp, 32);
    const float *cw = cfg->balance == PN_BALANCE_WEIGHT ? st->class_w : NULL;

    /* buffers, allocated once: xb (B,D), yb (B), logits/dlogits (B,C), dw (C,D), db (C), order (N) */
    size_t nw = (size_t)C * D;
    float *fbuf = malloc(((size_t)B * D + 2 * (size_t)B * C + nw + C) * sizeof *fbuf);
    int *yb = malloc((size_t)B * sizeof *yb);
    int64_t *order = malloc(N * sizeof *order);
    if (!fbuf || !yb || !order) {
        free(fbuf);
        free(yb);
        free(order);
        rc = pn_error_set(err, PN_E_NOMEM, "training: out of memory for batch %d", B);
        goto fail;
    }
    float *xb = fbuf, *logits = xb + (size_t)B * D, *dlogits = logits + (size_t)B * C,
          *dw = dlogits + (size_t)B * C, *db = dw + nw;
    pn__adam_config adam = {cfg->lr, 0.9, 0.999, 1e-8};

    for (int ep = st->epochs_done + 1; ep <= cfg->epochs; ep++) {
        double t0 = pn_now();
        rc = pn_epoch_order(cfg, &st->rng, train->label, N, order, err);
        if (rc) break;
        double run_loss = 0;
        size_t correct = 0;
        for (size_t i0 = 0; i0 < N; i0 += (size_t)B) {
            if (cfg->cancel && *cfg->cancel) {
                rc = pn_error_set(err, PN_E_INTERRUPTED,
                                  "interrupted in epoch %d; the checkpoint of epoch %d is kept "
                                  "(rerun with --resume)",
                                  ep, ep - 1);
                break;
            }
            int nb = (int)(N - i0 < (size_t)B ? N - i0 : (size_t)B);
            for (int k = 0; k < nb; k++) {
                size_t src = (size_t)order[i0 + k];
                memcpy(xb + (size_t)k * D, train->x + src * D, (size_t)D * sizeof *xb);
                yb[k] = train->label[src];
            }
            pn__linear_forward(nb, D, C, xb, st->w, st->b, logits);
            float loss;
            rc = pn__cross_entropy(nb, C, logits, yb, cw, &loss, dlogits, err);
            if (rc) {
                if (rc == PN_E_NUMERIC)
                    pn_error_set(err, rc,
                                 "the loss is NaN or infinite (diverged: try a lower --lr, or "
                                 "check the features)");
                pn_error_prefix(err, "epoch %d: ", ep);
                break;
            }
            correct += pn_count_correct(logits, yb, nb, C);
            pn__linear_backward(nb, D, C, xb, st->w, dlogits, NULL, dw, db);
            st->step++;
            pn__adam_step(nw, st->w, dw, st->mw, st->vw, st->step, &adam);
            pn__adam_step((size_t)C, st->b, db, st->mb, st->vb, st->step, &adam);
            run_loss += (double)loss * nb;
            if (cfg->on_batch) cfg->on_batch(ep, i0 + (size_t)nb, N, cfg->user);
        }
        if (rc) break;
        pn_epoch_stats es = {ep, run_loss / (double)N, (double)correct / (double)N, NAN, NAN, 0};
        if (val && val->n) {
            rc = pn_head_evaluate(st->w, st->b, C, val, cw, &es.val_loss, &es.val_acc, NULL, err);
            if (rc) {
                pn_error_prefix(err, "epoch %d validation: ", ep);
                break;
            }
        }
        es.seconds = pn_now() - t0;
        st->hist[st->epochs_done++] = es;
        if (cfg->checkpoint) {
            rc = pn_checkpoint_save(cfg->checkpoint, st, err);
            if (rc) break;
        }
        if (cfg->on_epoch) cfg->on_epoch(&es, cfg->user);
    }
    free(fbuf);
    free(yb);
    free(order);
    if (rc) goto fail;
    return PN_OK;
fail:
    pn_head_state_free(st);
    return rc;
}
