/* The model-suffix trainer: a pn_model trained from its train stage (the
 * deeper freeze levels) with the model's own backward and Adam. */
#include <stdlib.h>
#include <string.h>

#include "pneumo/model.h"
#include "pneumo/train.h"

typedef struct suffix {
    pn_model *m;
    pn_stage from;
} suffix;

static pn_status sx_step(void *ctx, const float *x, const int *y, int n, const float *cw,
                         double lr, float *loss, float *logits, pn_error *err)
{
    suffix *s = ctx;
    // x (n, D) at the train stage: forward (training mode in the trainable part), backward, Adam
    return pn_model_train_step_from(s->m, s->from, x, y, n, cw, lr, loss, logits, err);
}

static pn_status sx_logits(void *ctx, const float *x, int n, float *logits, pn_error *err)
{
    suffix *s = ctx;
    // in (n, D) at the train stage -> logits (n, C), eval mode
    return pn_model_run(s->m, s->from, x, n, PN_STAGE_LOGITS, 0, logits, err);
}

/* ---- model access: the one place that knows how pn_model exposes its
 * state. ADAPTER until pn_model_get/set and pn_model_get_adam/set_adam
 * (OIHW) exist: the Adam moments travel as the engine's raw arrays
 * (optim.raw.*) with the engine's layout hash; import refuses another. */

static int is_optim(const char *name) { return !strncmp(name, "optim.", 6); }

static pn_status adam_export(pn_model *m, pn_statedict *sd, pn_error *err)
{
    pn_model_opt o;
    PN_TRY(pn_model_opt_state(m, &o, err));
    int64_t n = (int64_t)o.n, nl = 32, lay[32];
    for (int i = 0; i < 32; i++) lay[i] = o.layout[i];
    PN_TRY(pn_statedict_add(sd, "optim.raw.exp_avg", PN_F32, 1, &n, o.m, NULL, err));
    PN_TRY(pn_statedict_add(sd, "optim.raw.exp_avg_sq", PN_F32, 1, &n, o.v, NULL, err));
    return pn_statedict_add(sd, "optim.raw.layout", PN_I64, 1, &nl, lay, NULL, err);
}

static pn_status adam_import(pn_model *m, const pn_statedict *sd, pn_error *err)
{
    const pn_tensor *mt = pn_statedict_findc(sd, "optim.raw.exp_avg");
    const pn_tensor *vt = pn_statedict_findc(sd, "optim.raw.exp_avg_sq");
    const pn_tensor *lt = pn_statedict_findc(sd, "optim.raw.layout");
    if (!mt && !vt) return PN_OK; /* stays as it is */
    pn_model_opt o;
    PN_TRY(pn_model_opt_state(m, &o, err));
    int same = mt && vt && lt && mt->numel == o.n && vt->numel == o.n && lt->numel == 32;
    for (int i = 0; same && i < 32; i++) same = ((const int64_t *)lt->data)[i] == o.layout[i];
    if (!same)
        return pn_error_set(err, PN_E_FORMAT,
                            "made for another model or Adam layout (another freeze level, class "
                            "count, or CPU's oneDNN weight layout)");
    memcpy(o.m, mt->data, o.n * sizeof(float));
    memcpy(o.v, vt->data, o.n * sizeof(float));
    return PN_OK;
}

/* sd's model tensors -> m: all of them at once (pn_model_load), or float
 * tensors one by one */
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
    if (!rc && part.n >= 122) {
        rc = pn_model_load(m, &part, 0, err); /* zeroes the Adam state: imported after */
    } else {
        for (size_t i = 0; i < part.n && !rc; i++) {
            const pn_tensor *t = &part.t[i];
            size_t n = 0;
            float *p = t->dtype == PN_F32 ? pn_model_param(m, t->name, &n) : NULL;
            if (!p || n != t->numel)
                rc = pn_error_set(err, PN_E_FORMAT, "model: no float tensor %s of %zu values",
                                  t->name, t->numel);
            else
                memcpy(p, t->data, n * sizeof *p);
        }
    }
    pn_statedict_free(&part);
    return rc;
}

/* ---- state --------------------------------------------------------------- */

static pn_status sx_export(void *ctx, pn_statedict *sd, pn_error *err)
{
    suffix *s = ctx;
    PN_TRY(pn_model_save(s->m, sd, err)); /* parameters and buffers, torchvision names */
    return adam_export(s->m, sd, err);
}

static pn_status sx_import(void *ctx, const pn_statedict *sd, long step, pn_error *err)
{
    suffix *s = ctx;
    PN_TRY(model_set(s->m, sd, err));
    PN_TRY(adam_import(s->m, sd, err));
    return pn_model_set_adam_steps(s->m, step, err);
}

static void sx_free(void *ctx) { free(ctx); }

pn_status pn_suffix_trainer_create(pn_trainer *t, pn_model *m, pn_error *err)
{
    memset(t, 0, sizeof *t);
    suffix *s = calloc(1, sizeof *s);
    if (!s) return pn_error_set(err, PN_E_NOMEM, "trainer: out of memory");
    const pn_model_config *mc = pn_model_get_config(m);
    s->m = m;
    s->from = pn_model_train_stage(m);
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
                      sx_free};
    return PN_OK;
}
