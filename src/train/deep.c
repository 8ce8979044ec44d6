/* Training deeper freeze levels on cached boundary activations with the
 * engine's trainable ResNet-18 (pneumo/model.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/head.h"
#include "pneumo/model.h"
#include "ops/ops.h"
#include "pneumo/train.h"
#include "pneumo/util.h"

pn_status pn_model_evaluate_feats(struct pn_model *m, const pn_featset *fs, const float *cw,
                                  double *loss, double *acc, float *probs, pn_error *err)
{
    const pn_model_config *mc = pn_model_get_config(m);
    const int C = mc->num_classes, B = mc->max_batch;
    const pn_stage from = pn_model_train_stage(m);
    float *logits = malloc((size_t)B * C * sizeof *logits);
    if (!logits) return pn_error_set(err, PN_E_NOMEM, "evaluate: out of memory");
    double num = 0, den = 0;
    size_t correct = 0;
    pn_status st = PN_OK;
    for (size_t i = 0; i < fs->n && !st; i += (size_t)B) {
        int nb = (int)(fs->n - i < (size_t)B ? fs->n - i : (size_t)B);
        // in (nb, D) at the train stage -> logits (nb, C), eval mode
        st = pn_model_run(m, from, fs->x + i * (size_t)fs->dim, nb, PN_STAGE_LOGITS, 0, logits,
                          err);
        if (st) break;
        float lf;
        st = pn__cross_entropy(nb, C, logits, fs->label + i, cw, &lf, NULL, err);
        if (st) break;
        double wsum = 0;
        for (int k = 0; k < nb; k++) wsum += cw ? cw[fs->label[i + k]] : 1.0;
        correct += pn_count_correct(logits, fs->label + i, nb, C);
        if (probs) pn_softmax(logits, nb, C, probs + i * (size_t)C);
        num += lf * wsum;
        den += wsum;
    }
    free(logits);
    if (st) return st;
    *loss = den > 0 ? num / den : NAN;
    *acc = fs->n ? (double)correct / (double)fs->n : NAN;
    return PN_OK;
}

pn_status pn_model_train_feats(struct pn_model *m, const pn_head_train_cfg *cfg,
                               const pn_featset *train, const pn_featset *val,
                               pn_head_state *st, pn_error *err)
{
    memset(st, 0, sizeof *st);
    const pn_model_config *mc = pn_model_get_config(m);
    const int C = mc->num_classes, B = cfg->batch;
    const size_t N = train->n, D = (size_t)train->dim;
    const pn_stage from = pn_model_train_stage(m);
    if (cfg->resume && (!cfg->checkpoint || !pn_path_exists(cfg->checkpoint)))
        return pn_error_set(err, PN_E_NOTFOUND,
                            "--resume: %s does not exist: nothing to resume (drop --resume to "
                            "start a new run)",
                            cfg->checkpoint ? cfg->checkpoint : "(no checkpoint file given)");
    if (C != cfg->classes || B > mc->max_batch || N == 0 || D != pn_model_stage_numel(m, from))
        return pn_error_set(err, PN_E_ARG,
                            "training: model/feature mismatch (%d classes, batch %d, %zu items "
                            "of %zu floats, model wants %zu)",
                            C, B, N, D, pn_model_stage_numel(m, from));
    size_t nw, nb_;
    float *fw = pn_model_param(m, "fc.weight", &nw), *fb = pn_model_param(m, "fc.bias", &nb_);
    st->hist = calloc((size_t)cfg->epochs, sizeof *st->hist);
    st->w = malloc((nw + nb_) * sizeof *st->w);
    float *xb = malloc((size_t)B * D * sizeof *xb), *logits = malloc((size_t)B * C * sizeof *logits);
    int *yb = malloc((size_t)B * sizeof *yb);
    int64_t *order = malloc(N * sizeof *order);
    pn_status rc = PN_OK;
    if (!fw || !fb || !st->hist || !st->w || !xb || !logits || !yb || !order) {
        rc = pn_error_set(err, PN_E_NOMEM, "training: out of memory (batch %d of %zu floats)", B,
                          D);
        goto done;
    }
    st->classes = C;
    st->dim = 512;
    st->b = st->w + nw;
    uint8_t fp[32];
    pn_head_fingerprint(cfg, train, val, fp);
    if (cfg->resume) {
        /* model (params + running stats), Adam state, generator, history */
        rc = pn_deep_checkpoint_load(cfg->checkpoint, m, st, cfg->epochs, err);
        if (rc) goto done;
        if (memcmp(st->fingerprint, fp, 32) || st->classes != C) {
            rc = pn_error_set(err, PN_E_ARG,
                              "--resume: checkpoint %s belongs to another run (different data "
                              "or settings); use the same options, or drop --resume to start "
                              "over",
                              cfg->checkpoint);
            goto done;
        }
        /* fc.* moved with the load: the pointers stay, the values are new */
    } else {
        pn_rng_seed(&st->rng, cfg->seed);
        if (cfg->init_w) {
            memcpy(fw, cfg->init_w, nw * sizeof *fw);
            memcpy(fb, cfg->init_b, nb_ * sizeof *fb);
        } else {
            pn_rng_linear_init(&st->rng, fw, fb, C, 512);
        }
        for (int c = 0; c < PN_MAX_CLASSES; c++) st->class_w[c] = 1.0f;
        if (cfg->balance == PN_BALANCE_WEIGHT) {
            rc = pn_class_weights(train->label, N, C, st->class_w, err);
            if (rc) goto done;
        }
        memcpy(st->fingerprint, fp, 32);
    }
    const float *cw = cfg->balance == PN_BALANCE_WEIGHT ? st->class_w : NULL;
    for (int ep = st->epochs_done + 1; ep <= cfg->epochs && !rc; ep++) {
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
                size_t src = (size_t)order[i0 + (size_t)k];
                memcpy(xb + (size_t)k * D, train->x + src * D, D * sizeof *xb);
                yb[k] = train->label[src];
            }
            float loss;
            // xb (nb, D) at the train stage: forward (training mode in the trainable part),
            // backward, Adam
            rc = pn_model_train_step_from(m, from, xb, yb, nb, cw, cfg->lr, &loss, logits, err);
            if (!rc && !isfinite(loss))
                rc = pn_error_set(err, PN_E_NUMERIC,
                                  "the loss is NaN or infinite (diverged: try a lower --lr)");
            if (rc) {
                pn_error_prefix(err, "epoch %d: ", ep);
                break;
            }
            correct += pn_count_correct(logits, yb, nb, C);
            run_loss += (double)loss * nb;
            if (cfg->on_batch) cfg->on_batch(ep, i0 + (size_t)nb, N, cfg->user);
        }
        if (rc) break;
        pn_epoch_stats es = {ep, run_loss / (double)N, (double)correct / (double)N, NAN, NAN, 0};
        if (val && val->n) {
            rc = pn_model_evaluate_feats(m, val, cw, &es.val_loss, &es.val_acc, NULL, err);
            if (rc) break;
        }
        es.seconds = pn_now() - t0;
        st->hist[st->epochs_done++] = es;
        st->step = pn_model_adam_steps(m);
        if (cfg->checkpoint) {
            rc = pn_deep_checkpoint_save(cfg->checkpoint, m, st, err);
            if (rc) break;
        }
        if (cfg->on_epoch) cfg->on_epoch(&es, cfg->user);
    }
    if (!rc) {
        memcpy(st->w, fw, nw * sizeof *fw);
        memcpy(st->b, fb, nb_ * sizeof *fb);
    }
done:
    free(xb);
    free(logits);
    free(yb);
    free(order);
    if (rc) {
        free(st->hist);
        free(st->w);
        memset(st, 0, sizeof *st);
    }
    return rc;
}
