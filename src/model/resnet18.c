/* ResNet-18 (torchvision layout and names) for training and evaluation:
 * the network planned from the arch table (src/model/arch.c), its oneDNN
 * ops per batch size, forward between stage boundaries, backward through
 * the trainable suffix and the Adam step. The parameters (table, memory,
 * layouts, get/set, load/save) are in params.c; the units and letters are
 * described in model_internal.h. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "model/dp.h"
#include "model/model_internal.h"

/* ---- freeze levels, stages ------------------------------------------------ */

int pn_freeze_parse(const char *s, pn_freeze *out)
{
    static const struct { const char *s; pn_freeze f; } t[] = {
        {"fc", PN_FREEZE_FC},         {"layer4", PN_FREEZE_LAYER4}, {"layer3", PN_FREEZE_LAYER3},
        {"none", PN_FREEZE_NONE},     {"all", PN_FREEZE_NONE}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (s && !strcmp(s, t[i].s)) {
            *out = t[i].f;
            return 0;
        }
    return -1;
}

const char *pn_freeze_name(pn_freeze f)
{
    switch (f) {
    case PN_FREEZE_FC: return "fc";
    case PN_FREEZE_LAYER4: return "layer4";
    case PN_FREEZE_LAYER3: return "layer3";
    case PN_FREEZE_NONE: return "none";
    }
    return "?";
}

pn_stage pn_freeze_stage(pn_freeze f)
{
    switch (f) {
    case PN_FREEZE_FC: return PN_STAGE_POOL;
    case PN_FREEZE_LAYER4: return PN_STAGE_LAYER3;
    case PN_FREEZE_LAYER3: return PN_STAGE_LAYER2;
    default: return PN_STAGE_INPUT;
    }
}

/*                         INPUT STEM LAYER1..4     POOL  LOGITS */
const int pn__stage_unit[PN_STAGE_COUNT] = {0, 1, 3, 5, 7, U_POOL, U_FC, NUNITS};

pn_stage pn_model_train_stage(const pn_model *m) { return pn_freeze_stage(m->cfg.freeze); }

void pn_model_stage_shape(const pn_model *m, pn_stage s, int *c, int *h, int *w)
{
    pn__arch_stage_shape(s, m->cfg.height, m->cfg.width, m->cfg.num_classes, c, h, w);
}

size_t pn_model_stage_numel(const pn_model *m, pn_stage s)
{
    int c, h, w;
    return pn__arch_stage_shape(s, m->cfg.height, m->cfg.width, m->cfg.num_classes, &c, &h, &w);
}

const pn_model_config *pn_model_get_config(const pn_model *m) { return &m->cfg; }
long pn_model_adam_steps(const pn_model *m) { return m->adam_step; }
int pn_model_is_bf16(const pn_model *m) { return m ? m->bf16 : 0; }

/* ---- create / free ------------------------------------------------------ */

static void free_ops(pn_model *m)
{
    cbn *all[1 + 3 * NBLOCKS];
    int na = 0;
    all[na++] = &m->stem;
    for (int i = 0; i < NBLOCKS; i++) {
        all[na++] = &m->b[i].c1;
        all[na++] = &m->b[i].c2;
        if (m->b[i].has_ds) all[na++] = &m->b[i].ds;
        pn__addrelu_free(m->b[i].addrelu);
        m->b[i].addrelu = NULL;
    }
    for (int i = 0; i < na; i++) {
        pn__conv2d_free(all[i]->conv);
        pn__bn2d_free(all[i]->bnop);
        all[i]->conv = NULL;
        all[i]->bnop = NULL;
    }
    pn__pool_free(m->maxpool);
    pn__pool_free(m->avgpool);
    m->maxpool = m->avgpool = NULL;
    m->ops_n = 0;
}

void pn_model_free(pn_model *m)
{
    if (!m) return;
    free_ops(m);
    pn__model_free_layouts(m);
    pn__dnn_free(m->dnn);
    free(m->w);
    free(m->stats);
    free(m->gw);
    free(m->adam_m);
    free(m->adam_v);
    free(m->acts);
    free(m);
}

pn_status pn_model_create(pn_model **out, const pn_model_config *cfg, pn_error *err)
{
    *out = NULL;
    if (!cfg) return pn_error_set(err, PN_E_ARG, "model: no configuration");
    pn_model_config c = *cfg;
    if (c.height == 0) c.height = 224;
    if (c.width == 0) c.width = 224;
    if (c.num_classes < 1 || c.num_classes > 100000)
        return pn_error_set(err, PN_E_ARG, "model: num_classes %d not in [1, 100000]",
                            c.num_classes);
    if (c.max_batch < 1 || c.max_batch > 4096)
        return pn_error_set(err, PN_E_ARG, "model: max_batch %d not in [1, 4096]", c.max_batch);
    if (c.height < 32 || c.height > 4096 || c.width != c.height)
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "model: input %dx%d unsupported (square, 32..4096 pixels)", c.height,
                            c.width);
    if ((int)c.freeze < PN_FREEZE_FC || c.freeze > PN_FREEZE_NONE)
        return pn_error_set(err, PN_E_ARG, "model: unknown freeze level %d", (int)c.freeze);
    if (c.threads < 0)
        return pn_error_set(err, PN_E_ARG, "model: threads %d is negative", c.threads);
    pn_model *m = calloc(1, sizeof *m);
    if (!m) return pn_error_set(err, PN_E_NOMEM, "model: out of memory");
    m->cfg = c;
    pn_status st = pn__dnn_create(&m->dnn, err);
    if (st) {
        free(m);
        return pn_error_prefix(err, "model: ");
    }
    m->blk = pn__dnn_block(m->dnn);
    pn__set_threads(c.threads);
    m->first_train = pn__stage_unit[pn_freeze_stage(c.freeze)];
    m->bf16 = c.bf16 && c.freeze != PN_FREEZE_FC;
    int bf16_notice = 0;
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (m->bf16 && (isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) {
        m->bf16 = 0;
        bf16_notice = 1;
    }
    pn__model_plan_entries(m);
    /* trainable flags: a unit trains when u >= first_train */
    m->stem.trainable = m->first_train == 0;
    for (int i = 0; i < NBLOCKS; i++) {
        block *b = &m->b[i];
        b->trainable = i + 1 >= m->first_train;
        b->c1.trainable = b->c2.trainable = b->ds.trainable = b->trainable;
    }
    m->train_off = m->fc_w_off; /* the first parameter of a trainable unit */
    for (int i = m->nent - 1; i >= 0; i--)
        if (m->ent[i].kind == E_PARAM && m->ent[i].unit >= m->first_train)
            m->train_off = m->ent[i].off;
    st = pn__model_alloc(m, err);
    if (st == PN_OK) st = pn__model_plan_layouts(m, err);
    if (st) {
        pn_model_free(m);
        return st == PN_E_NOMEM ? st : pn_error_prefix(err, "model: ");
    }
    m->weights_dirty = 1;
    if (bf16_notice && err)
        pn_error_set(err, PN_OK,
                     "notice: this CPU has no avx512_core_bf16 (oneDNN ISA 0x%x); training in "
                     "fp32", (unsigned)isa);
    *out = m;
    return PN_OK;
}

/* ---- oneDNN ops for batch size n ---------------------------------------- */

/* The stem conv reads the NCHW input: the blocked descriptor of a
 * 3-channel tensor is plain NCHW (pn__dnn_act_md). */
static pn_status make_cbn_ops(pn_model *m, cbn *c, int n, int need_dx, pn_error *err)
{
    pn__conv2d_dims d = {n, c->cin, c->hin, c->win, c->cout, c->k, c->stride, c->pad};
    if (m->bf16) /* frozen convs too (forward only), as autocast and the --bf16 feature pass */
        PN_TRY(pn__conv2d_create_bf16(&c->conv, m->dnn, &d, PN__LAYOUT_BLOCKED, c->trainable,
                                     need_dx, &c->w_md, 1, err));
    else
        PN_TRY(pn__conv2d_create_md(&c->conv, m->dnn, &d, PN__LAYOUT_BLOCKED, c->trainable,
                                   &c->w_md, 1, err));
    PN_TRY(pn__bn2d_create(&c->bnop, m->dnn, n, c->cout, c->hout, c->wout, PN__LAYOUT_BLOCKED,
                          c->trainable, c->relu, err));
    return PN_OK;
}

static pn_status set_conv_weights(pn_model *m, int only_trainable, pn_error *err)
{
    if (!m->ops_n) return PN_OK;
    if (!only_trainable || m->stem.trainable)
        PN_TRY(pn__conv2d_set_weights(m->stem.conv, m->w + m->stem.w_off, err));
    for (int i = 0; i < NBLOCKS; i++) {
        block *b = &m->b[i];
        if (only_trainable && !b->trainable) continue;
        PN_TRY(pn__conv2d_set_weights(b->c1.conv, m->w + b->c1.w_off, err));
        PN_TRY(pn__conv2d_set_weights(b->c2.conv, m->w + b->c2.w_off, err));
        if (b->has_ds) PN_TRY(pn__conv2d_set_weights(b->ds.conv, m->w + b->ds.w_off, err));
    }
    return PN_OK;
}

static pn_status build_ops(pn_model *m, int n, pn_error *err)
{
    PN_TRY(make_cbn_ops(m, &m->stem, n, 0, err)); /* the input needs no gradient */
    PN_TRY(pn__maxpool_create(&m->maxpool, m->dnn, n, 64, m->h0, m->w0, 3, 2, 1, PN__LAYOUT_BLOCKED,
                             m->stem.trainable, err));
    for (int i = 0; i < NBLOCKS; i++) {
        block *b = &m->b[i];
        size_t sz = (size_t)n * b->c2.cout * b->c2.hout * b->c2.wout;
        int in_grad = i + 1 > m->first_train; /* the block's input is trainable: needs dx */
        PN_TRY(make_cbn_ops(m, &b->c1, n, in_grad, err));
        PN_TRY(make_cbn_ops(m, &b->c2, n, 1, err));
        if (b->has_ds) PN_TRY(make_cbn_ops(m, &b->ds, n, in_grad, err));
        PN_TRY(pn__addrelu_create(&b->addrelu, m->dnn, sz, b->trainable, err));
    }
    const cbn *last = &m->b[NBLOCKS - 1].c2;
    PN_TRY(pn__avgpool_global_create(&m->avgpool, m->dnn, n, FEAT, last->hout, last->wout,
                                    PN__LAYOUT_BLOCKED, m->first_train <= U_POOL, err));
    return PN_OK;
}

static pn_status ensure_ops(pn_model *m, int n, pn_error *err)
{
    if (m->ops_n != n) {
        free_ops(m);
        pn_status st = build_ops(m, n, err);
        if (st) {
            free_ops(m);
            return pn_error_prefix(err, "model (batch %d): ", n);
        }
        m->ops_n = n;
        m->weights_dirty = 1;
    }
    if (m->weights_dirty) {
        PN_TRY(set_conv_weights(m, 0, err));
        m->weights_dirty = 0;
    }
    return PN_OK;
}

/* ---- forward ------------------------------------------------------------ */

static pn_status cbn_forward(pn_model *m, cbn *c, const float *x, int training, int n,
                             pn_error *err)
{
    PN_TRY(pn__conv2d_forward(c->conv, x, c->y_conv, err));
    const float *g = m->w + c->g_off, *b = m->w + c->b_off;
    float *rm = m->stats + c->rm_off, *rv = m->stats + c->rv_off;
    if (training) {
        size_t cnt = (size_t)n * c->hout * c->wout;
        if (m->dist_n) /* data-parallel: the job's batch stats (SyncBatchNorm) */
            PN_TRY(pn__bn2d_forward_sync(c->bnop, c->y_conv, g, b, c->bmean, c->bvar, c->y_bn,
                                        &cnt, err));
        else PN_TRY(pn__bn2d_forward(c->bnop, 1, c->y_conv, g, b, c->bmean, c->bvar, c->y_bn, err));
        pn__bn2d_update_running(rm, rv, c->bmean, c->bvar, c->cout, cnt, PN__BN_MOMENTUM);
        m->nbt[c->bn]++;
    } else {
        PN_TRY(pn__bn2d_forward(c->bnop, 0, c->y_conv, g, b, rm, rv, c->y_bn, err));
    }
    return PN_OK;
}

static const float *unit_input(const pn_model *m, int u, const float *x)
{
    if (u == 0) return x;
    if (u == 1) return m->p0;
    if (u <= NBLOCKS) return m->b[u - 2].out;
    if (u == U_POOL + 1) return m->feat;
    return m->b[NBLOCKS - 1].out; /* pool input */
}

static pn_status unit_forward(pn_model *m, int u, const float *x, int n, int training,
                              pn_error *err)
{
    int tr = training && u >= m->first_train;
    if (u == 0) {
        PN_TRY(cbn_forward(m, &m->stem, x, tr, n, err));
        return pn__pool_forward(m->maxpool, m->stem.y_bn, m->p0, err);
    }
    if (u <= NBLOCKS) {
        block *b = &m->b[u - 1];
        const float *in = unit_input(m, u, x);
        PN_TRY(cbn_forward(m, &b->c1, in, tr, n, err));
        PN_TRY(cbn_forward(m, &b->c2, b->c1.y_bn, tr, n, err));
        const float *id = in;
        if (b->has_ds) {
            PN_TRY(cbn_forward(m, &b->ds, in, tr, n, err));
            id = b->ds.y_bn;
        }
        return pn__addrelu_forward(b->addrelu, b->c2.y_bn, id, b->out, err);
    }
    if (u == U_POOL) return pn__pool_forward(m->avgpool, m->b[NBLOCKS - 1].out, m->feat, err);
    pn__linear_forward(n, FEAT, m->cfg.num_classes, m->feat, m->w + m->fc_w_off,
                      m->w + m->fc_b_off, m->logits);
    return PN_OK;
}

/* Internal activation buffer holding stage s (s > INPUT). */
static float *stage_buffer(pn_model *m, pn_stage s)
{
    if (s == PN_STAGE_STEM) return m->p0;
    if (s <= PN_STAGE_LAYER4) return m->b[2 * (s - PN_STAGE_STEM) - 1].out;
    return s == PN_STAGE_POOL ? m->feat : m->logits;
}

static pn_status check_call(pn_model *m, pn_stage from, pn_stage to, const void *in, int n,
                            int training, const void *out, pn_error *err)
{
    if ((int)from < PN_STAGE_INPUT || from > PN_STAGE_POOL || to <= from || to > PN_STAGE_LOGITS)
        return pn_error_set(err, PN_E_ARG, "model: bad stage range %d -> %d", (int)from, (int)to);
    if (n < 1 || n > m->cfg.max_batch)
        return pn_error_set(err, PN_E_ARG, "model: batch of %d images not in [1, max_batch=%d]",
                            n, m->cfg.max_batch);
    if (!in || !out) return pn_error_set(err, PN_E_ARG, "model: NULL input or output buffer");
    if (training && m->first_train <= NBLOCKS) {
        /* batch-stat BN needs more than one value per channel (as PyTorch) */
        const cbn *l = &m->b[NBLOCKS - 1].c2;
        if ((size_t)n * l->hout * l->wout < 2)
            return pn_error_set(err, PN_E_ARG,
                                "model: training batch norm needs more than 1 value per channel "
                                "(batch %d, layer4 %dx%d)", n, l->hout, l->wout);
    }
    return PN_OK;
}

/* Run units [pn__stage_unit[from], pn__stage_unit[to]) reading the stage input. */
static pn_status run_units(pn_model *m, pn_stage from, const float *in, int n, pn_stage to,
                           int training, pn_error *err)
{
    PN_TRY(ensure_ops(m, n, err));
    const float *x = NULL;
    if (from == PN_STAGE_INPUT) {
        x = in;
    } else {
        int c, h, w;
        pn_model_stage_shape(m, from, &c, &h, &w);
        PN_TRY(pn__dnn_to_blocked(m->dnn, in, stage_buffer(m, from), n, c, h * w,
                                 c % m->blk ? 1 : m->blk, err));
    }
    for (int u = pn__stage_unit[from]; u < pn__stage_unit[to]; u++)
        PN_TRY(unit_forward(m, u, x, n, training, err));
    return PN_OK;
}

pn_status pn_model_run(pn_model *m, pn_stage from, const float *in, int n, pn_stage to,
                       int training, float *out, pn_error *err)
{
    PN_TRY(check_call(m, from, to, in, n, training, out, err));
    PN_TRY(run_units(m, from, in, n, to, training, err));
    int c, h, w;
    pn_model_stage_shape(m, to, &c, &h, &w);
    return pn__dnn_to_nchw(m->dnn, stage_buffer(m, to), out, n, c, h * w, c % m->blk ? 1 : m->blk,
                          err);
}

pn_status pn_model_forward(pn_model *m, const float *x, int n, int training, float *logits,
                           pn_error *err)
{
    return pn_model_run(m, PN_STAGE_INPUT, x, n, PN_STAGE_LOGITS, training, logits, err);
}

/* ---- backward ----------------------------------------------------------- */

/* dy: grad w.r.t. the bn output (the ReLU output when fused); x: conv
 * input; dx may be NULL. */
static pn_status cbn_backward(pn_model *m, cbn *c, const float *x, const float *dy, float *dx,
                              pn_error *err)
{
    float *G = m->gw - m->train_off; /* indexed by param offset */
    if (m->dist_n)
        PN_TRY(pn__bn2d_backward_sync(c->bnop, c->y_conv, dy, m->w + c->g_off, c->bmean, c->bvar,
                                     (size_t)m->dist_n * c->hout * c->wout, c->d, G + c->g_off,
                                     G + c->b_off, err));
    else
        PN_TRY(pn__bn2d_backward(c->bnop, c->y_conv, dy, m->w + c->g_off, c->bmean, c->bvar,
                                c->d, G + c->g_off, G + c->b_off, err));
    return pn__conv2d_backward(c->conv, x, c->d, dx, G + c->w_off, err);
}

/* Block u-1 backward: d_out -> grads, and (if dx) the grad of its input. */
static pn_status block_backward(pn_model *m, int u, const float *x, int n, float *dx,
                                pn_error *err)
{
    block *b = &m->b[u - 1];
    const float *in = unit_input(m, u, x);
    size_t sz = (size_t)n * b->c2.cout * b->c2.hout * b->c2.wout;
    size_t szin = (size_t)n * b->c1.cin * b->c1.hin * b->c1.win;
    PN_TRY(pn__addrelu_backward(b->addrelu, b->out, b->d_out, b->d_sum, err));
    PN_TRY(cbn_backward(m, &b->c2, b->c1.y_bn, b->d_sum, b->d_r1, err));
    PN_TRY(cbn_backward(m, &b->c1, in, b->d_r1, dx, err));
    if (b->has_ds) {
        PN_TRY(cbn_backward(m, &b->ds, in, b->d_sum, dx ? m->scratch : NULL, err));
        if (dx) pn__add_backward(szin, dx, m->scratch, dx);
    } else if (dx) {
        pn__add_backward(sz, dx, b->d_sum, dx);
    }
    return PN_OK;
}

pn_status pn_model_backward_from(pn_model *m, pn_stage from, const float *in, const int *labels,
                                 int n, const float *class_weights, float *loss, float *logits,
                                 pn_error *err)
{
    PN_TRY(check_call(m, from, PN_STAGE_LOGITS, in, n, 1, labels, err));
    if (from > pn_model_train_stage(m))
        return pn_error_set(err, PN_E_ARG,
                            "model: freeze level '%s' trains from stage %d; cannot start a "
                            "training step at stage %d",
                            pn_freeze_name(m->cfg.freeze), (int)pn_model_train_stage(m),
                            (int)from);
    if (!loss) return pn_error_set(err, PN_E_ARG, "model: NULL loss pointer");
    int K = m->cfg.num_classes;
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= K)
            return pn_error_set(err, PN_E_ARG, "model: label %d of image %d not in [0,%d)",
                                labels[i], i, K);
    PN_TRY(run_units(m, from, in, n, PN_STAGE_LOGITS, 1, err));
    if (logits) memcpy(logits, m->logits, (size_t)n * K * sizeof *logits);
    PN_TRY(pn__cross_entropy(n, K, m->logits, labels, class_weights, loss, m->dlogits, err));
    if (m->dist_n) { /* data-parallel: the job's weighted mean, sum_i w_i l_i / sum_i w_i */
        double wl = 0, s[2];
        for (int i = 0; i < n; i++) wl += class_weights ? class_weights[labels[i]] : 1.0;
        s[0] = wl, s[1] = (double)*loss * wl;
        PN_TRY(pn__dist_allreduce_f64(s, 2, err));
        const float scale = (float)(wl / s[0]);
        for (size_t i = 0; i < (size_t)n * K; i++) m->dlogits[i] *= scale;
        *loss = (float)(s[1] / s[0]);
    }
    float *G = m->gw - m->train_off;
    const float *x = from == PN_STAGE_INPUT ? in : NULL;
    pn__linear_backward(n, FEAT, K, m->feat, m->w + m->fc_w_off, m->dlogits,
                       m->first_train <= U_POOL ? m->d_feat : NULL, G + m->fc_w_off,
                       G + m->fc_b_off);
    if (m->first_train > U_POOL) return PN_OK;
    PN_TRY(pn__pool_backward(m->avgpool, m->d_feat, m->b[NBLOCKS - 1].d_out, err));
    for (int u = NBLOCKS; u >= 1 && u >= m->first_train; u--) {
        float *dx = NULL;
        if (u - 1 >= m->first_train) dx = u == 1 ? m->d_p0 : m->b[u - 2].d_out;
        PN_TRY(block_backward(m, u, x, n, dx, err));
    }
    if (m->first_train == 0) {
        PN_TRY(pn__pool_backward(m->maxpool, m->d_p0, m->d_r0, err));
        PN_TRY(cbn_backward(m, &m->stem, x, m->d_r0, NULL, err));
    }
    return PN_OK;
}

/* n_global > 0: this rank's slice of a data-parallel step (src/model/dp.h) */
static pn_status train_step(pn_model *m, pn_stage from, const float *in, const int *labels,
                            int n, int n_global, const float *class_weights, double lr,
                            float *loss, float *logits, pn_error *err)
{
    if (!(lr >= 0) || lr > 1e3) return pn_error_set(err, PN_E_ARG, "model: bad learning rate %g", lr);
    m->dist_n = n_global;
    pn_status st = pn_model_backward_from(m, from, in, labels, n, class_weights, loss, logits, err);
    /* one bucketed allreduce: every trainable tensor's gradient in one call */
    if (!st && n_global) st = pn__dist_allreduce_f32(m->gw, m->nparams - m->train_off, err);
    m->dist_n = 0;
    if (st) return st;
    return pn_model_optim_step(m, lr, err);
}

pn_status pn_model_set_optim(pn_model *m, const pn_optim *o, pn_error *err)
{
    PN_TRY(pn_optim_check(o, err));
    m->optim = *o;
    return PN_OK;
}

pn_status pn_model_optim_step(pn_model *m, double lr, pn_error *err)
{
    if (!(lr >= 0) || lr > 1e3) return pn_error_set(err, PN_E_ARG, "model: bad learning rate %g", lr);
    m->adam_step++;
    pn__optim_step(&m->optim, lr, m->adam_step, m->nparams - m->train_off, m->w + m->train_off,
                   m->gw, m->adam_m, m->adam_v);
    return set_conv_weights(m, 1, err);
}

pn_status pn_model_train_step_from(pn_model *m, pn_stage from, const float *in,
                                   const int *labels, int n, const float *class_weights,
                                   double lr, float *loss, float *logits, pn_error *err)
{
    return train_step(m, from, in, labels, n, 0, class_weights, lr, loss, logits, err);
}

pn_status pn__model_train_step_dist(pn_model *m, pn_stage from, const float *in,
                                    const int *labels, int n, int n_global,
                                    const float *class_weights, double lr, float *loss,
                                    float *logits, pn_error *err)
{
    if (n_global < n || n_global < 1)
        return pn_error_set(err, PN_E_ARG, "model: slice of %d images of a batch of %d", n,
                            n_global);
    return train_step(m, from, in, labels, n, n_global, class_weights, lr, loss, logits, err);
}

pn_status pn_model_train_step(pn_model *m, const float *x, const int *labels, int n,
                              const float *class_weights, double lr, float *loss, float *logits,
                              pn_error *err)
{
    return pn_model_train_step_from(m, PN_STAGE_INPUT, x, labels, n, class_weights, lr, loss,
                                    logits, err);
}

