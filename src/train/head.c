/* The head trainer: Linear(dim, classes) + cross-entropy + the optimiser
 * on raw features (the engine's plain-C head ops), and pn_head_train. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "pneumo/train.h"

typedef struct head {
    int classes, dim, max_batch;
    long step;
    pn_optim optim;
    /* one block: w mw vw dw (C,D), b mb vb db (C), dlogits (B,C) */
    float *w, *mw, *vw, *dw, *b, *mb, *vb, *db, *dlogits;
} head;

static pn_status head_step(void *ctx, const float *x, const int *y, int n, const float *cw,
                           double lr, float *loss, float *logits, pn_error *err)
{
    head *h = ctx;
    const int C = h->classes, D = h->dim;
    pn__linear_forward(n, D, C, x, h->w, h->b, logits);
    PN_TRY(pn__cross_entropy(n, C, logits, y, cw, loss, h->dlogits, err));
    pn__linear_backward(n, D, C, x, h->w, h->dlogits, NULL, h->dw, h->db);
    h->step++;
    pn__optim_step(&h->optim, lr, h->step, (size_t)C * D, h->w, h->dw, h->mw, h->vw);
    pn__optim_step(&h->optim, lr, h->step, (size_t)C, h->b, h->db, h->mb, h->vb);
    return PN_OK;
}

static pn_status head_logits(void *ctx, const float *x, int n, float *logits, pn_error *err)
{
    head *h = ctx;
    pn__linear_forward(n, h->dim, h->classes, x, h->w, h->b, logits);
    return PN_OK;
}

/* the state's tensors: name, data, shape rank */
typedef struct slot {
    const char *name;
    float *p;
    int bias;
} slot;

/* fc.weight, fc.bias, then the optimiser's state of each (torch's names) */
static int slots(head *h, slot s[6], char names[4][48])
{
    const char *st[2];
    int ns = pn_optim_state_names(&h->optim, st), n = 0;
    s[n++] = (slot){"fc.weight", h->w, 0};
    s[n++] = (slot){"fc.bias", h->b, 1};
    for (int k = 0; k < ns; k++) {
        snprintf(names[2 * k], 48, "optim.%s.fc.weight", st[k]);
        snprintf(names[2 * k + 1], 48, "optim.%s.fc.bias", st[k]);
        s[n++] = (slot){names[2 * k], k ? h->vw : h->mw, 0};
        s[n++] = (slot){names[2 * k + 1], k ? h->vb : h->mb, 1};
    }
    return n;
}

static pn_status head_export(void *ctx, pn_statedict *sd, pn_error *err)
{
    head *h = ctx;
    slot s[6];
    char nm[4][48];
    int64_t ws[2] = {h->classes, h->dim}, bs[1] = {h->classes};
    for (int i = 0, n = slots(h, s, nm); i < n; i++)
        PN_TRY(pn_statedict_add(sd, s[i].name, PN_F32, s[i].bias ? 1 : 2, s[i].bias ? bs : ws,
                                s[i].p, NULL, err));
    return PN_OK;
}

static pn_status head_import(void *ctx, const pn_statedict *sd, long step, pn_error *err)
{
    head *h = ctx;
    slot s[6];
    char nm[4][48];
    const int n = slots(h, s, nm);
    for (int i = 0; i < n; i++) { /* check everything before changing anything */
        const pn_tensor *t = pn_statedict_findc(sd, s[i].name);
        size_t want = s[i].bias ? (size_t)h->classes : (size_t)h->classes * h->dim;
        if (t && (t->dtype != PN_F32 || t->numel != want))
            return pn_error_set(err, PN_E_FORMAT, "%s: %zu values, the head has %zu", s[i].name,
                                t->numel, want);
    }
    for (int i = 0; i < n; i++) {
        const pn_tensor *t = pn_statedict_findc(sd, s[i].name);
        if (t) memcpy(s[i].p, t->data, t->numel * sizeof(float));
    }
    h->step = step;
    return PN_OK;
}

static pn_status head_set_optim(void *ctx, const pn_optim *o, pn_error *err)
{
    head *h = ctx;
    PN_TRY(pn_optim_check(o, err));
    h->optim = *o;
    return PN_OK;
}

static void head_free(void *ctx)
{
    head *h = ctx;
    if (!h) return;
    free(h->w);
    free(h);
}

pn_status pn_head_trainer_create(pn_trainer *t, int classes, int dim, int max_batch,
                                 pn_error *err)
{
    memset(t, 0, sizeof *t);
    if (classes < 1 || dim < 1 || max_batch < 1)
        return pn_error_set(err, PN_E_ARG, "head trainer: %d classes, %d features, batch %d",
                            classes, dim, max_batch);
    const size_t nw = (size_t)classes * dim, nb = (size_t)classes;
    head *h = calloc(1, sizeof *h);
    float *blk = calloc(4 * (nw + nb) + (size_t)max_batch * nb, sizeof *blk);
    if (!h || !blk) {
        free(h);
        free(blk);
        return pn_error_set(err, PN_E_NOMEM, "head state: out of memory");
    }
    *h = (head){classes, dim, max_batch, 0, {0}, blk, blk + nw, blk + 2 * nw, blk + 3 * nw,
                blk + 4 * nw, blk + 4 * nw + nb, blk + 4 * nw + 2 * nb, blk + 4 * nw + 3 * nb,
                blk + 4 * (nw + nb)};
    /* eval_batch 256: the validation loss is summed over chunks of 256 */
    *t = (pn_trainer){h, "head", "fc", classes, dim, dim, max_batch, 256,
                      head_step, head_logits, head_export, head_import, head_free,
                      head_set_optim};
    return PN_OK;
}

pn_status pn_head_train(const pn_fit_cfg *cfg, const pn_featset *train, const pn_featset *val,
                        pn_head_state *st, pn_error *err)
{
    memset(st, 0, sizeof *st);
    pn_trainer t;
    PN_TRY(pn_head_trainer_create(&t, cfg->classes < 1 ? 1 : cfg->classes,
                                  train && train->dim > 0 ? train->dim : 1,
                                  cfg->batch < 1 ? 1 : cfg->batch, err));
    pn_status rc = pn_fit(cfg, &t, train, val, st, err);
    pn_trainer_free(&t);
    return rc;
}
