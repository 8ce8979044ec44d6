/* The trainable ResNet-18's parameters: the table of tensors (from
 * pn__arch, state_dict order), the memory carving, the conv weights' master
 * layouts, the copy-in/copy-out accessors in torchvision's layout (OIHW for
 * convs) for parameters, gradients and Adam moments, load and save. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "pneumo/util.h"

/* ---- the table of tensors (state_dict order) -------------------------------- */

static void add_entry(pn_model *m, const char *name, int kind, int ndim, const int64_t *shape,
                      int unit)
{
    entry *e = &m->ent[m->nent++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kind = kind;
    e->ndim = ndim;
    e->unit = unit;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i], e->numel *= (size_t)shape[i];
    if (kind == E_PARAM) e->off = m->nparams, m->nparams += e->numel;
    else if (kind == E_NBT) e->off = 0;
    else e->off = m->nstats, m->nstats += e->numel;
}

/* The conv + BN unit u of pn__arch into c: "<conv>.weight" and
 * "<bn>.{weight,bias,running_mean,running_var,num_batches_tracked}". */
static void plan_cbn(pn_model *m, cbn *c, const pn__arch_unit *u, int hin, int win, int unit,
                     int *nbn)
{
    char nm[48];
    c->cin = u->cin, c->cout = u->cout, c->k = u->k, c->stride = u->stride, c->pad = u->pad;
    c->relu = u->relu;
    c->hin = hin, c->win = win;
    c->hout = pn__arch_out(hin, u->k, u->stride, u->pad);
    c->wout = pn__arch_out(win, u->k, u->stride, u->pad);
    c->bn = (*nbn)++;
    int64_t ws[4] = {u->cout, u->cin, u->k, u->k}, cs[1] = {u->cout};
    snprintf(nm, sizeof nm, "%s.weight", u->conv);
    c->w_off = m->nparams;
    add_entry(m, nm, E_PARAM, 4, ws, unit);
    m->ent[m->nent - 1].conv = c;
    snprintf(nm, sizeof nm, "%s.weight", u->bn);
    c->g_off = m->nparams;
    add_entry(m, nm, E_PARAM, 1, cs, unit);
    snprintf(nm, sizeof nm, "%s.bias", u->bn);
    c->b_off = m->nparams;
    add_entry(m, nm, E_PARAM, 1, cs, unit);
    snprintf(nm, sizeof nm, "%s.running_mean", u->bn);
    c->rm_off = m->nstats;
    add_entry(m, nm, E_RMEAN, 1, cs, unit);
    snprintf(nm, sizeof nm, "%s.running_var", u->bn);
    c->rv_off = m->nstats;
    add_entry(m, nm, E_RVAR, 1, cs, unit);
    snprintf(nm, sizeof nm, "%s.num_batches_tracked", u->bn);
    add_entry(m, nm, E_NBT, 0, NULL, unit);
    m->ent[m->nent - 1].off = (size_t)c->bn;
}

/* Every conv+BN unit of pn__arch with its sizes, then fc: the entries in
 * state_dict order. */
void pn__model_plan_entries(pn_model *m)
{
    int nbn = 0;
    for (int i = 0; i < PN__ARCH_NCONV; i++) {
        const pn__arch_unit *u = &pn__arch[i];
        if (u->role == PN__ROLE_STEM) {
            plan_cbn(m, &m->stem, u, m->cfg.height, m->cfg.width, 0, &nbn);
            m->h0 = m->stem.hout, m->w0 = m->stem.wout;
            m->hp = pn__arch_out(m->h0, 3, 2, 1), m->wp = pn__arch_out(m->w0, 3, 2, 1);
            continue;
        }
        block *b = &m->b[u->block];
        /* the block input: the max pool output or the previous block's */
        int hin = u->block ? m->b[u->block - 1].c2.hout : m->hp;
        int win = u->block ? m->b[u->block - 1].c2.wout : m->wp;
        if (u->role == PN__ROLE_CONV1) plan_cbn(m, &b->c1, u, hin, win, u->block + 1, &nbn);
        else if (u->role == PN__ROLE_CONV2)
            plan_cbn(m, &b->c2, u, b->c1.hout, b->c1.wout, u->block + 1, &nbn);
        else plan_cbn(m, &b->ds, u, hin, win, u->block + 1, &nbn), b->has_ds = 1;
    }
    int64_t fw[2] = {m->cfg.num_classes, FEAT}, fb[1] = {m->cfg.num_classes};
    m->fc_w_off = m->nparams;
    add_entry(m, "fc.weight", E_PARAM, 2, fw, U_FC);
    m->fc_b_off = m->nparams;
    add_entry(m, "fc.bias", E_PARAM, 1, fb, U_FC);
}

const entry *pn__model_find(const pn_model *m, const char *name)
{
    for (int i = 0; name && i < m->nent; i++)
        if (!strcmp(m->ent[i].name, name)) return &m->ent[i];
    return NULL;
}

/* ---- activation memory plan ------------------------------------------- */

typedef struct carver {
    float *base;
    size_t off;
} carver;

/* n floats, 64-byte aligned; base NULL = counting pass */
static float *take(carver *cv, size_t n)
{
    float *p = cv->base ? cv->base + cv->off : NULL;
    cv->off += (n + 15) / 16 * 16;
    return p;
}

static void carve_cbn(carver *cv, cbn *c, int N)
{
    size_t sz = (size_t)N * c->cout * c->hout * c->wout;
    c->y_conv = take(cv, sz);
    c->y_bn = take(cv, sz);
    if (c->trainable) {
        c->d = take(cv, sz);
        c->bmean = take(cv, (size_t)c->cout);
        c->bvar = take(cv, (size_t)c->cout);
    }
}

/* The conv / BN buffers of unit u (stem or block u-1). */
static void carve_cbns(carver *cv, pn_model *m, int u, int N)
{
    if (u == 0) {
        carve_cbn(cv, &m->stem, N);
        return;
    }
    block *b = &m->b[u - 1];
    carve_cbn(cv, &b->c1, N);
    carve_cbn(cv, &b->c2, N);
    if (b->has_ds) carve_cbn(cv, &b->ds, N);
}

/* A frozen unit is never differentiated, so its conv and BN outputs are
 * dead once its output exists: all frozen units share one region for them
 * (the unit outputs stay: stage taps and the first trainable unit's input). */
static void carve_all(pn_model *m, carver *cv)
{
    int N = m->cfg.max_batch, K = m->cfg.num_classes;
    size_t tmax = 0;
    for (int u = 0; u < m->first_train && u <= NBLOCKS; u++) {
        carver c = {NULL, 0};
        carve_cbns(&c, m, u, N);
        if (c.off > tmax) tmax = c.off;
    }
    float *shared = cv->base ? cv->base + cv->off : NULL; // frozen units' temporaries
    cv->off += tmax;
    carver t0 = {shared, 0};
    carve_cbns(m->first_train > 0 ? &t0 : cv, m, 0, N);
    size_t s0 = (size_t)N * 64 * m->h0 * m->w0, sp = (size_t)N * 64 * m->hp * m->wp;
    size_t maxin = sp;
    m->p0 = take(cv, sp);
    if (m->stem.trainable) m->d_r0 = take(cv, s0);
    if (m->first_train <= 1) m->d_p0 = take(cv, sp);
    for (int i = 0; i < NBLOCKS; i++) {
        block *b = &m->b[i];
        size_t sz = (size_t)N * b->c2.cout * b->c2.hout * b->c2.wout;
        carver t = {shared, 0};
        carve_cbns(i + 1 < m->first_train ? &t : cv, m, i + 1, N);
        b->out = take(cv, sz);
        /* d_out is needed when this block or the next unit trains */
        if (i + 1 >= m->first_train) b->d_out = take(cv, sz);
        if (b->trainable) {
            b->d_sum = take(cv, sz);
            b->d_r1 = take(cv, sz);
        }
        if (sz > maxin) maxin = sz;
    }
    m->feat = take(cv, (size_t)N * FEAT);
    m->d_feat = take(cv, (size_t)N * FEAT);
    m->logits = take(cv, (size_t)N * K);
    m->dlogits = take(cv, (size_t)N * K);
    m->scratch = take(cv, maxin);
}

void pn__model_carve(pn_model *m, float *base, size_t *floats)
{
    carver cv = {base, 0};
    carve_all(m, &cv);
    *floats = cv.off;
}

/* ---- allocation --------------------------------------------------------- */

static void init_bn_defaults(pn_model *m)
{
    /* BN: gamma 1, beta 0, running mean 0, running var 1 (PyTorch's init) */
    for (int i = 0; i < m->nent; i++) {
        const entry *e = &m->ent[i];
        size_t l = strlen(e->name);
        if (e->kind == E_RVAR)
            for (size_t j = 0; j < e->numel; j++) m->stats[e->off + j] = 1.f;
        if (e->kind == E_PARAM && e->ndim == 1 && strncmp(e->name, "fc.", 3) &&
            l > 7 && !strcmp(e->name + l - 7, ".weight"))
            for (size_t j = 0; j < e->numel; j++) m->w[e->off + j] = 1.f;
    }
}

pn_status pn__model_alloc(pn_model *m, pn_error *err)
{
    const pn_model_config *c = &m->cfg;
    size_t ng = m->nparams - m->train_off;
    m->w = aligned_alloc(64, (m->nparams * sizeof(float) + 63) / 64 * 64);
    m->stats = calloc(m->nstats, sizeof(float));
    m->gw = aligned_alloc(64, (ng * sizeof(float) + 63) / 64 * 64);
    m->adam_m = calloc(ng, sizeof(float));
    m->adam_v = calloc(ng, sizeof(float));
    pn__model_carve(m, NULL, &m->acts_floats);
    m->acts = aligned_alloc(64, (m->acts_floats * sizeof(float) + 63) / 64 * 64);
    if (!m->w || !m->stats || !m->gw || !m->adam_m || !m->adam_v || !m->acts) {
        size_t mb = (m->acts_floats + 4 * m->nparams) * sizeof(float) >> 20;
        return pn_error_set(err, PN_E_NOMEM,
                            "model: cannot allocate %zu MiB for max_batch %d at %dx%d", mb,
                            c->max_batch, c->height, c->width);
    }
    memset(m->acts, 0, m->acts_floats * sizeof(float));
    size_t n;
    pn__model_carve(m, m->acts, &n);
    memset(m->w, 0, m->nparams * sizeof(float)); /* conv weights all zero: any layout */
    memset(m->gw, 0, ng * sizeof(float));
    init_bn_defaults(m);
    return PN_OK;
}

void pn__model_free_layouts(pn_model *m)
{
    for (int i = 0; i < m->nent; i++) {
        cbn *c = m->ent[i].conv;
        if (!c) continue;
        pn__prim_free(&c->to_oihw);
        pn__prim_free(&c->to_master);
        if (c->m_oihw) dnnl_memory_destroy(c->m_oihw);
        if (c->m_master) dnnl_memory_destroy(c->m_master);
        c->m_oihw = c->m_master = NULL;
    }
}

/* ---- master weight layouts and the OIHW copies ------------------------------ */

/* Each conv's master layout: the forward primitive's choice at max_batch
 * (OIHW when that layout is padded, so every entry keeps numel floats). */
pn_status pn__model_plan_layouts(pn_model *m, pn_error *err)
{
    for (int i = 0; i < m->nent; i++) {
        cbn *c = m->ent[i].conv;
        if (!c) continue;
        pn__conv2d_dims d = {m->cfg.max_batch, c->cin, c->hin, c->win, c->cout, c->k, c->stride,
                            c->pad};
        dnnl_memory_desc_t oihw = pn__dnn_md_oihw(c->cout, c->cin, c->k, c->k);
        PN_TRY(pn__conv2d_weights_md(m->dnn, &d, PN__LAYOUT_BLOCKED, c->trainable, &c->w_md, err));
        if (dnnl_memory_desc_get_size(&c->w_md) != m->ent[i].numel * sizeof(float))
            c->w_md = oihw;
        PN_TRY(pn__reorder_create(&c->to_master, &oihw, &c->w_md, m->dnn, err));
        PN_TRY(pn__reorder_create(&c->to_oihw, &c->w_md, &oihw, m->dnn, err));
        PN_TRY(pn__mem_create(&c->m_oihw, &oihw, m->dnn, err));
        PN_TRY(pn__mem_create(&c->m_master, &c->w_md, m->dnn, err));
    }
    return PN_OK;
}

/* Copy entry e between torchvision's layout (to_oihw: into dst) and the
 * compute layout (else: into the model's buffer dst). */
static pn_status convert(const pn_model *m, const entry *e, const float *src, float *dst,
                         int to_oihw, pn_error *err)
{
    const cbn *c = e->conv;
    const pn__prim *r = c ? (to_oihw ? &c->to_oihw : &c->to_master) : NULL;
    if (!r || !r->p) {
        memcpy(dst, src, e->numel * sizeof(float));
        return PN_OK;
    }
    pn__mem_bind(c->m_oihw, to_oihw ? dst : src);
    pn__mem_bind(c->m_master, to_oihw ? src : dst);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, to_oihw ? c->m_master : c->m_oihw},
                           {DNNL_ARG_TO, to_oihw ? c->m_oihw : c->m_master}};
    return pn__prim_exec(r, m->dnn, 2, a, "weight layout reorder", err);
}

size_t pn_model_memory_bytes(const pn_model *m)
{
    size_t ng = m->nparams - m->train_off;
    return (m->nparams + m->nstats + 3 * ng + m->acts_floats) * sizeof(float);
}

/* ---- tensors by name: copies in torchvision layout ------------------------ */

/* A float tensor (parameter or running stat) by name, n checked. */
static pn_status find_float(const pn_model *m, const char *name, size_t n, const entry **out,
                            pn_error *err)
{
    const entry *e = name ? pn__model_find(m, name) : NULL;
    if (!e || e->kind == E_NBT)
        return pn_error_set(err, PN_E_ARG, "model: no float tensor '%s'", name ? name : "(null)");
    if (n != e->numel)
        return pn_error_set(err, PN_E_ARG, "model: '%s' has %zu elements, not %zu", name,
                            e->numel, n);
    *out = e;
    return PN_OK;
}

/* A trainable parameter by name, n checked; *g its offset into gw/adam. */
static pn_status find_trainable(const pn_model *m, const char *name, size_t n, const entry **out,
                                size_t *g, pn_error *err)
{
    PN_TRY(find_float(m, name, n, out, err));
    if ((*out)->kind != E_PARAM || (*out)->off < m->train_off)
        return pn_error_set(err, PN_E_ARG, "model: '%s' is not trainable at freeze level '%s'",
                            name, pn_freeze_name(m->cfg.freeze));
    *g = (*out)->off - m->train_off;
    return PN_OK;
}

size_t pn_model_numel(const pn_model *m, const char *name)
{
    const entry *e = name ? pn__model_find(m, name) : NULL;
    return e && e->kind != E_NBT ? e->numel : 0;
}

pn_status pn_model_get(const pn_model *m, const char *name, float *dst, size_t n, pn_error *err)
{
    const entry *e;
    PN_TRY(find_float(m, name, n, &e, err));
    if (e->kind != E_PARAM) {
        memcpy(dst, m->stats + e->off, n * sizeof *dst);
        return PN_OK;
    }
    return convert(m, e, m->w + e->off, dst, 1, err);
}

pn_status pn_model_set(pn_model *m, const char *name, const float *src, size_t n, pn_error *err)
{
    const entry *e;
    PN_TRY(find_float(m, name, n, &e, err));
    if (e->kind != E_PARAM) {
        memcpy(m->stats + e->off, src, n * sizeof *src);
        return PN_OK;
    }
    if (e->conv) m->weights_dirty = 1; /* the ops hold the weights: hand them over again */
    return convert(m, e, src, m->w + e->off, 0, err);
}

pn_status pn_model_get_grad(const pn_model *m, const char *name, float *dst, size_t n,
                            pn_error *err)
{
    const entry *e;
    size_t g;
    PN_TRY(find_trainable(m, name, n, &e, &g, err));
    return convert(m, e, m->gw + g, dst, 1, err);
}

int pn_model_num_trainable(const pn_model *m)
{
    int k = 0;
    for (int i = 0; i < m->nent; i++)
        k += m->ent[i].kind == E_PARAM && m->ent[i].off >= m->train_off;
    return k;
}

const char *pn_model_trainable_name(const pn_model *m, int i)
{
    for (int j = 0; j < m->nent && i >= 0; j++)
        if (m->ent[j].kind == E_PARAM && m->ent[j].off >= m->train_off && i-- == 0)
            return m->ent[j].name;
    return NULL;
}

pn_status pn_model_get_adam(const pn_model *m, const char *name, float *exp_avg,
                            float *exp_avg_sq, size_t n, pn_error *err)
{
    const entry *e;
    size_t g;
    PN_TRY(find_trainable(m, name, n, &e, &g, err));
    PN_TRY(convert(m, e, m->adam_m + g, exp_avg, 1, err));
    return convert(m, e, m->adam_v + g, exp_avg_sq, 1, err);
}

pn_status pn_model_set_adam(pn_model *m, const char *name, const float *exp_avg,
                            const float *exp_avg_sq, size_t n, pn_error *err)
{
    const entry *e;
    size_t g;
    PN_TRY(find_trainable(m, name, n, &e, &g, err));
    PN_TRY(convert(m, e, exp_avg, m->adam_m + g, 0, err));
    return convert(m, e, exp_avg_sq, m->adam_v + g, 0, err);
}

/* Thin wrappers, removed once R2 lands: live pointers to the non-conv
 * tensors only (conv weights live in a blocked layout: NULL). */
pn_status pn_model_load(pn_model *m, const pn_statedict *sd, int skip_fc, pn_error *err)
{
    pn__keylist missing, extra, bad;
    pn__keylist_init(&missing, ", ");
    pn__keylist_init(&extra, ", ");
    pn__keylist_init(&bad, ", ");
    int bad_fc = 0;
    for (int i = 0; i < m->nent; i++) {
        const entry *e = &m->ent[i];
        if (skip_fc && !strncmp(e->name, "fc.", 3)) continue;
        const pn_tensor *t = pn_statedict_findc(sd, e->name);
        if (!t) {
            if (e->kind == E_NBT) continue; /* optional */
            pn__keylist_add(&missing, "%s", e->name);
            continue;
        }
        int ok = t->ndim == e->ndim;
        for (int j = 0; ok && j < e->ndim; j++) ok = t->shape[j] == e->shape[j];
        if (e->kind == E_NBT) ok = t->numel == 1 && t->dtype == PN_I64;
        else ok = ok && t->dtype == PN_F32;
        if (!ok) {
            char got[96], want[96];
            pn_shape_str(t->ndim, t->shape, got, sizeof got);
            pn_shape_str(e->ndim, e->shape, want, sizeof want);
            pn__keylist_add(&bad, "%s %s %s (want %s %s)", e->name, pn_dtype_name(t->dtype), got,
                            e->kind == E_NBT ? "int64" : "float32", want);
            bad_fc |= !strncmp(e->name, "fc.", 3);
        }
    }
    for (size_t i = 0; i < sd->n; i++) {
        const char *nm = sd->t[i].name;
        if (skip_fc && !strncmp(nm, "fc.", 3)) continue;
        if (!pn__model_find(m, nm)) pn__keylist_add(&extra, "%s", nm);
    }
    if (missing.count || extra.count || bad.count) {
        return pn_error_set(err, PN_E_FORMAT,
                            "state dict does not fit resnet18(num_classes=%d): %d missing [%s], "
                            "%d unexpected [%s], %d mis-shaped [%s]%s",
                            m->cfg.num_classes, missing.count, pn__keylist_str(&missing),
                            extra.count, pn__keylist_str(&extra), bad.count,
                            pn__keylist_str(&bad),
                            (!skip_fc && bad_fc) ? " (skip fc to keep a new head)" : "");
    }
    for (int i = 0; i < m->nent; i++) {
        const entry *e = &m->ent[i];
        if (skip_fc && !strncmp(e->name, "fc.", 3)) continue;
        const pn_tensor *t = pn_statedict_findc(sd, e->name);
        if (!t) continue;
        if (e->kind == E_NBT) {
            m->nbt[e->off] = *(const int64_t *)t->data;
        } else if (e->kind == E_PARAM) {
            PN_TRY(convert(m, e, t->data, m->w + e->off, 0, err));
        } else {
            memcpy(m->stats + e->off, t->data, e->numel * sizeof(float));
        }
    }
    /* new weights: fresh optimizer state */
    size_t ng = m->nparams - m->train_off;
    memset(m->adam_m, 0, ng * sizeof(float));
    memset(m->adam_v, 0, ng * sizeof(float));
    memset(m->gw, 0, ng * sizeof(float));
    m->adam_step = 0;
    m->weights_dirty = 1;
    return PN_OK;
}

pn_status pn_model_save(const pn_model *m, pn_statedict *out, pn_error *err)
{
    for (int i = 0; i < m->nent; i++) {
        const entry *e = &m->ent[i];
        pn_tensor *t;
        PN_TRY(pn_statedict_add(out, e->name, e->kind == E_NBT ? PN_I64 : PN_F32, e->ndim,
                                e->shape, e->kind == E_NBT ? (const void *)&m->nbt[e->off] : NULL,
                                &t, err));
        if (e->kind != E_NBT) PN_TRY(pn_model_get(m, e->name, t->data, e->numel, err));
    }
    return PN_OK;
}

pn_status pn_model_set_adam_steps(pn_model *m, long steps, pn_error *err)
{
    if (steps < 0) return pn_error_set(err, PN_E_ARG, "model: Adam step count %ld < 0", steps);
    m->adam_step = steps;
    return PN_OK;
}
