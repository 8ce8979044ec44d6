/* The model-suffix trainer: a pn_model trained from its train stage (the
 * deeper freeze levels) with the model's own backward and optimiser step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "model/dp.h"
#include "pneumo/model.h"
#include "pneumo/train.h"

typedef struct suffix {
    pn_model *m;
    pn_stage from;
    int classes;
    pn_optim optim;
} suffix;

static pn_status sx_step(void *ctx, const float *x, const int *y, int n, const float *cw,
                         double lr, float *loss, float *logits, pn_error *err)
{
    suffix *s = ctx;
    /* under mpirun (docs/mpi.md): this rank's contiguous slice of the batch,
     * synchronised BN, one gradient allreduce; every rank gets all logits. A
     * batch smaller than the job runs whole on every rank (the same result). */
    const int R = pn__dist_size();
    if (R > 1 && n >= R) {
        size_t lo, hi;
        pn__dist_share((size_t)n, pn__dist_rank(), R, &lo, &hi);
        const size_t D = pn_model_stage_numel(s->m, s->from), C = (size_t)s->classes;
        PN_TRY(pn__model_train_step_dist(s->m, s->from, x + lo * D, y + lo, (int)(hi - lo), n, cw,
                                         lr, loss, logits + lo * C, err));
        return pn__dist_allgather_rows(logits, (size_t)n, C * sizeof *logits, err);
    }
    // x (n, D) at the train stage: forward (training mode in the trainable part), backward, Adam
    return pn_model_train_step_from(s->m, s->from, x, y, n, cw, lr, loss, logits, err);
}

static pn_status sx_logits(void *ctx, const float *x, int n, float *logits, pn_error *err)
{
    suffix *s = ctx;
    // in (n, D) at the train stage -> logits (n, C), eval mode
    /* under mpirun every rank evaluates (validation each epoch, val and test
     * at the end): each runs its contiguous share of the batch and all get
     * every row, as in sx_step (eval mode: an image's logits do not depend
     * on the rest of its batch) */
    const int R = pn__dist_size();
    if (R > 1 && n >= R) {
        size_t lo, hi;
        pn__dist_share((size_t)n, pn__dist_rank(), R, &lo, &hi);
        const size_t D = pn_model_stage_numel(s->m, s->from), C = (size_t)s->classes;
        PN_TRY(pn_model_run(s->m, s->from, x + lo * D, (int)(hi - lo), PN_STAGE_LOGITS, 0,
                            logits + lo * C, err));
        return pn__dist_allgather_rows(logits, (size_t)n, C * sizeof *logits, err);
    }
    return pn_model_run(s->m, s->from, x, n, PN_STAGE_LOGITS, 0, logits, err);
}

/* ---- optimiser state <-> optim.<state>.<name> (torchvision layout) ---- */

static int is_optim(const char *name) { return !strncmp(name, "optim.", 6); }

static pn_status optim_export(const suffix *s, pn_statedict *sd, pn_error *err)
{
    pn_model *m = s->m;
    const char *st[2];
    const int ns = pn_optim_state_names(&s->optim, st);
    char km[300], kv[300];
    for (int i = 0; ns && i < pn_model_num_trainable(m); i++) {
        const char *name = pn_model_trainable_name(m, i);
        const pn_tensor *p = pn_statedict_findc(sd, name);
        if (!p) return pn_error_set(err, PN_E_BACKEND, "model: trainable %s not saved", name);
        int ndim = p->ndim;
        int64_t shape[PN_MAX_DIMS];
        memcpy(shape, p->shape, sizeof shape);
        snprintf(km, sizeof km, "optim.%s.%s", st[0], name);
        PN_TRY(pn_statedict_add(sd, km, PN_F32, ndim, shape, NULL, NULL, err));
        if (ns > 1) {
            snprintf(kv, sizeof kv, "optim.%s.%s", st[1], name);
            PN_TRY(pn_statedict_add(sd, kv, PN_F32, ndim, shape, NULL, NULL, err));
        }
        pn_tensor *tm = pn_statedict_find(sd, km), *tv = ns > 1 ? pn_statedict_find(sd, kv) : NULL;
        float *scratch = tv ? NULL : malloc(tm->numel * sizeof *scratch);
        if (!tv && !scratch) return pn_error_set(err, PN_E_NOMEM, "model: out of memory");
        pn_status rc = pn_model_get_adam(m, name, tm->data, tv ? tv->data : scratch, tm->numel, err);
        free(scratch);
        PN_TRY(rc);
    }
    return PN_OK;
}

static pn_status optim_import(const suffix *s, const pn_statedict *sd, pn_error *err)
{
    pn_model *m = s->m;
    const char *st[2];
    const int ns = pn_optim_state_names(&s->optim, st);
    char km[300], kv[300];
    for (int i = 0; ns && i < pn_model_num_trainable(m); i++) {
        const char *name = pn_model_trainable_name(m, i);
        snprintf(km, sizeof km, "optim.%s.%s", st[0], name);
        snprintf(kv, sizeof kv, "optim.%s.%s", ns > 1 ? st[1] : st[0], name);
        const pn_tensor *tm = pn_statedict_findc(sd, km), *tv = pn_statedict_findc(sd, kv);
        if (!tm && !tv) continue; /* stays as it is */
        if (!tm || !tv || tm->numel != tv->numel)
            return pn_error_set(err, PN_E_FORMAT, "%s: the optimiser state does not match", name);
        /* SGD: one buffer; the model's second slot is unused and gets a copy */
        PN_TRY(pn_model_set_adam(m, name, tm->data, tv->data, tm->numel, err));
    }
    return PN_OK;
}

/* sd's model tensors -> m: the whole state at once (pn_model_load, with
 * num_batches_tracked), or float tensors one by one */
static pn_status model_set(pn_model *m, const pn_statedict *sd, pn_error *err)
{
    pn_statedict part;
    pn_statedict_init(&part);
    pn_status rc = PN_OK;
    for (size_t i = 0; i < sd->n && !rc; i++) {
        const pn_tensor *t = &sd->t[i];
        if (!is_optim(t->name))
            rc = pn_statedict_add(&part, t->name, t->dtype, t->ndim, t->shape, t->data, NULL, err);
    }
    int whole = 0;
    for (size_t i = 0; i < part.n; i++) whole |= part.t[i].dtype == PN_I64;
    if (!rc && whole) {
        rc = pn_model_load(m, &part, 0, err); /* zeroes the Adam state: imported after */
    } else {
        for (size_t i = 0; i < part.n && !rc; i++)
            rc = pn_model_set(m, part.t[i].name, part.t[i].data, part.t[i].numel, err);
    }
    pn_statedict_free(&part);
    return rc;
}

/* ---- state --------------------------------------------------------------- */

static pn_status sx_export(void *ctx, pn_statedict *sd, pn_error *err)
{
    suffix *s = ctx;
    PN_TRY(pn_model_save(s->m, sd, err)); /* parameters and buffers, torchvision names */
    return optim_export(s, sd, err);
}

static pn_status sx_import(void *ctx, const pn_statedict *sd, long step, pn_error *err)
{
    suffix *s = ctx;
    PN_TRY(model_set(s->m, sd, err));
    PN_TRY(optim_import(s, sd, err));
    return pn_model_set_adam_steps(s->m, step, err);
}

static pn_status sx_set_optim(void *ctx, const pn_optim *o, pn_error *err)
{
    suffix *s = ctx;
    PN_TRY(pn_model_set_optim(s->m, o, err));
    s->optim = *o;
    return PN_OK;
}

static void sx_free(void *ctx) { free(ctx); }

pn_status pn_suffix_trainer_create(pn_trainer *t, pn_model *m, pn_error *err)
{
    return pn_suffix_trainer_create_at(t, m, (int)pn_model_train_stage(m), err);
}

pn_status pn_suffix_trainer_create_at(pn_trainer *t, pn_model *m, int from, pn_error *err)
{
    memset(t, 0, sizeof *t);
    if (from < PN_STAGE_INPUT || from > (int)pn_model_train_stage(m))
        return pn_error_set(err, PN_E_ARG, "trainer: stage %d is after the model's train stage",
                            from);
    suffix *s = calloc(1, sizeof *s);
    if (!s) return pn_error_set(err, PN_E_NOMEM, "trainer: out of memory");
    const pn_model_config *mc = pn_model_get_config(m);
    s->m = m;
    s->from = (pn_stage)from;
    s->classes = mc->num_classes;
    *t = (pn_trainer){s,
                      "suffix",
                      pn_freeze_name(mc->freeze),
                      mc->num_classes,
                      (int)pn_model_stage_numel(m, s->from),
                      512,
                      mc->max_batch,
                      mc->max_batch,
                      sx_step,
                      sx_logits,
                      sx_export,
                      sx_import,
                      sx_free,
                      sx_set_optim};
    return PN_OK;
}
