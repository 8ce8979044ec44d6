/* ResNet-18 (torchvision layout and names) for training and evaluation.
 *
 * Units, in order (u = index):
 *   0      stem: conv1 (3->64, k7 s2 p3) -> bn1 -> relu -> maxpool (k3 s2 p1)
 *   1..8   BasicBlocks layer1.0, layer1.1, layer2.0, ..., layer4.1
 *   9      global average pool -> (N,512)
 *   10     fc (512 -> K)
 * The trainable part is the units u >= m->first_train. Activations between
 * units live in the oneDNN blocked layout (nChw16c on AVX-512), except the
 * network input (NCHW, the caller's buffer) and the (N,512)/(N,K) head
 * tensors (identical in every layout).
 *
 * Letters: N batch (n in use, <= max_batch), K classes, H/W the input size,
 * C/Hs/Ws one unit's output channels and spatial size.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/dnn.h"
#include "pneumo/model.h"
#include "pneumo/util.h"

#define NBLOCKS 8
#define NUNITS 11
#define U_POOL 9
#define U_FC 10
#define FEAT 512
#define MAX_ENTRIES 128

enum { E_PARAM, E_RMEAN, E_RVAR, E_NBT };

struct cbn;

typedef struct entry {
    char name[48];
    int kind, ndim;
    int64_t shape[4];
    size_t numel, off; /* off: floats into params (E_PARAM) or stats (E_RMEAN/E_RVAR); bn index for E_NBT */
    struct cbn *conv;  /* conv weight: its layout conversion */
} entry;

/* A conv followed by its batch norm. */
typedef struct cbn {
    int cin, cout, k, stride, pad, hin, win, hout, wout, trainable, bn; /* bn: index 0..19 */
    int relu;         /* ReLU fused into the BN (stem, first conv of a block) */
    size_t w_off, g_off, b_off, rm_off, rv_off; /* into params / stats */
    /* Master layout of the conv weight (and its gradient and Adam state) in
     * m->w / m->gw: the one oneDNN's forward primitive picks (OIhw16i16o on
     * AVX-512), so no per-step reorder for the forward or the weight
     * gradient; OIHW only in the torchvision views. */
    dnnl_memory_desc_t w_md;
    pn_prim to_oihw, to_master; /* p NULL: the layouts agree (plain copy) */
    dnnl_memory_t m_oihw, m_master;
    pn_conv2d *conv;  /* per batch size */
    pn_bn2d *bnop;
    float *y_conv;    // (N,cout,hout,wout) conv output
    float *y_bn;      // (N,cout,hout,wout) bn output (relu(bn) when relu)
    float *d;         // (N,cout,hout,wout) grad w.r.t. conv output (trainable only)
    float *bmean, *bvar; // (cout) batch stats of the last training forward
} cbn;

typedef struct block {
    int trainable, has_ds;
    cbn c1, c2, ds;
    pn_addrelu *addrelu; /* out = relu(bn2 + identity) */
    // r1 = relu(bn1(conv1(x))) is c1.y_bn (BN + ReLU fused)
    float *out;   // (N,C,Hs,Ws) relu(sum)
    float *d_out; // (N,C,Hs,Ws) grad w.r.t. out
    float *d_sum; // (N,C,Hs,Ws) grad w.r.t. sum (= w.r.t. bn2 out and the identity)
    float *d_r1;  // (N,C,Hs,Ws) grad w.r.t. relu(bn1)
} block;

struct pn_model {
    pn_model_config cfg;
    pn_dnn *dnn;
    int first_train; /* first trainable unit */
    int blk;         /* channel block of the activations */

    entry ent[MAX_ENTRIES];
    int nent;
    size_t nparams, nstats, train_off; /* floats; train_off: first trainable param */
    float *w;        // all parameters, state_dict order, compute layout (conv weights in cbn.w_md)
    float *stats;    // running_mean / running_var of the 20 BNs
    int64_t nbt[20]; // num_batches_tracked
    float *gw;       // (nparams - train_off): gradients of the trainable suffix, compute layout
    float *adam_m, *adam_v; // same shape and layout as gw
    long adam_step;
    float *acts;     // one allocation: all activations + activation grads + batch stats
    size_t acts_floats;

    cbn stem;
    pn_pool *maxpool, *avgpool;
    int h0, w0, hp, wp; /* stem conv output and maxpool output sizes */
    // relu(bn1(conv1(x))) is stem.y_bn (fused)
    float *p0;    // (N,64,hp,wp) maxpool output
    float *d_r0, *d_p0;
    block b[NBLOCKS];
    float *feat;    // (N,512) pooled feature
    float *d_feat;  // (N,512)
    float *logits;  // (N,K)
    float *dlogits; // (N,K)
    float *scratch; // max input activation: second input-gradient path of a block
    size_t fc_w_off, fc_b_off;

    int ops_n;          /* batch size the oneDNN ops are built for (0 = none) */
    int weights_dirty;  /* conv weights changed since the ops copied them */
};

/* ---- names, freeze levels, stages ----------------------------------------- */

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

/* unit index at which each stage's activation enters */
static const int stage_unit[] = {0, 5, 7, U_FC, NUNITS};

pn_stage pn_model_train_stage(const pn_model *m)
{
    switch (m->cfg.freeze) {
    case PN_FREEZE_FC: return PN_STAGE_POOL;
    case PN_FREEZE_LAYER4: return PN_STAGE_LAYER3;
    case PN_FREEZE_LAYER3: return PN_STAGE_LAYER2;
    default: return PN_STAGE_INPUT;
    }
}

void pn_model_stage_shape(const pn_model *m, pn_stage s, int *c, int *h, int *w)
{
    *h = *w = 1;
    switch (s) {
    case PN_STAGE_INPUT: *c = 3, *h = m->cfg.height, *w = m->cfg.width; break;
    case PN_STAGE_LAYER2: *c = 128, *h = m->b[3].c2.hout, *w = m->b[3].c2.wout; break;
    case PN_STAGE_LAYER3: *c = 256, *h = m->b[5].c2.hout, *w = m->b[5].c2.wout; break;
    case PN_STAGE_POOL: *c = FEAT; break;
    default: *c = m->cfg.num_classes; break;
    }
}

size_t pn_model_stage_numel(const pn_model *m, pn_stage s)
{
    int c, h, w;
    if ((int)s < 0 || s > PN_STAGE_LOGITS) return 0;
    pn_model_stage_shape(m, s, &c, &h, &w);
    return (size_t)c * h * w;
}

const pn_model_config *pn_model_get_config(const pn_model *m) { return &m->cfg; }
long pn_model_adam_steps(const pn_model *m) { return m->adam_step; }

/* ---- parameter table ---------------------------------------------------- */

static void add_entry(pn_model *m, const char *name, int kind, int ndim, const int64_t *shape)
{
    entry *e = &m->ent[m->nent++];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->kind = kind;
    e->ndim = ndim;
    e->numel = 1;
    for (int i = 0; i < ndim; i++) e->shape[i] = shape[i], e->numel *= (size_t)shape[i];
    if (kind == E_PARAM) e->off = m->nparams, m->nparams += e->numel;
    else if (kind == E_NBT) e->off = 0;
    else e->off = m->nstats, m->nstats += e->numel;
}

/* conv "<conv>.weight" + bn "<bn>.{weight,bias,running_mean,running_var,num_batches_tracked}" */
static void plan_cbn(pn_model *m, cbn *c, const char *conv, const char *bn, int cin, int cout,
                     int k, int stride, int pad, int hin, int win, int *nbn)
{
    char nm[48];
    c->cin = cin, c->cout = cout, c->k = k, c->stride = stride, c->pad = pad;
    c->hin = hin, c->win = win;
    c->hout = (hin + 2 * pad - k) / stride + 1;
    c->wout = (win + 2 * pad - k) / stride + 1;
    c->bn = (*nbn)++;
    int64_t ws[4] = {cout, cin, k, k}, cs[1] = {cout};
    snprintf(nm, sizeof nm, "%s.weight", conv);
    c->w_off = m->nparams;
    add_entry(m, nm, E_PARAM, 4, ws);
    m->ent[m->nent - 1].conv = c;
    snprintf(nm, sizeof nm, "%s.weight", bn);
    c->g_off = m->nparams;
    add_entry(m, nm, E_PARAM, 1, cs);
    snprintf(nm, sizeof nm, "%s.bias", bn);
    c->b_off = m->nparams;
    add_entry(m, nm, E_PARAM, 1, cs);
    snprintf(nm, sizeof nm, "%s.running_mean", bn);
    c->rm_off = m->nstats;
    add_entry(m, nm, E_RMEAN, 1, cs);
    snprintf(nm, sizeof nm, "%s.running_var", bn);
    c->rv_off = m->nstats;
    add_entry(m, nm, E_RVAR, 1, cs);
    snprintf(nm, sizeof nm, "%s.num_batches_tracked", bn);
    add_entry(m, nm, E_NBT, 0, NULL);
    m->ent[m->nent - 1].off = (size_t)c->bn;
}

static void plan_network(pn_model *m)
{
    int nbn = 0, H = m->cfg.height, W = m->cfg.width;
    plan_cbn(m, &m->stem, "conv1", "bn1", 3, 64, 7, 2, 3, H, W, &nbn);
    m->stem.relu = 1;
    m->h0 = m->stem.hout, m->w0 = m->stem.wout;
    m->hp = (m->h0 + 2 - 3) / 2 + 1, m->wp = (m->w0 + 2 - 3) / 2 + 1;
    int cin = 64, h = m->hp, w = m->wp;
    for (int i = 0; i < NBLOCKS; i++) {
        int layer = i / 2 + 1, idx = i % 2, cout = 64 << (layer - 1);
        int stride = (idx == 0 && layer > 1) ? 2 : 1;
        char p[16], a[48], bnm[48];
        block *b = &m->b[i];
        snprintf(p, sizeof p, "layer%d.%d", layer & 7, idx & 1);
        snprintf(a, sizeof a, "%s.conv1", p);
        snprintf(bnm, sizeof bnm, "%s.bn1", p);
        plan_cbn(m, &b->c1, a, bnm, cin, cout, 3, stride, 1, h, w, &nbn);
        b->c1.relu = 1;
        snprintf(a, sizeof a, "%s.conv2", p);
        snprintf(bnm, sizeof bnm, "%s.bn2", p);
        plan_cbn(m, &b->c2, a, bnm, cout, cout, 3, 1, 1, b->c1.hout, b->c1.wout, &nbn);
        b->has_ds = stride != 1 || cin != cout;
        if (b->has_ds) {
            snprintf(a, sizeof a, "%s.downsample.0", p);
            snprintf(bnm, sizeof bnm, "%s.downsample.1", p);
            plan_cbn(m, &b->ds, a, bnm, cin, cout, 1, stride, 0, h, w, &nbn);
        }
        cin = cout, h = b->c2.hout, w = b->c2.wout;
    }
    int64_t fw[2] = {m->cfg.num_classes, FEAT}, fb[1] = {m->cfg.num_classes};
    m->fc_w_off = m->nparams;
    add_entry(m, "fc.weight", E_PARAM, 2, fw);
    m->fc_b_off = m->nparams;
    add_entry(m, "fc.bias", E_PARAM, 1, fb);
}

static const entry *find_entry(const pn_model *m, const char *name)
{
    for (int i = 0; i < m->nent; i++)
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
        pn_addrelu_free(m->b[i].addrelu);
        m->b[i].addrelu = NULL;
    }
    for (int i = 0; i < na; i++) {
        pn_conv2d_free(all[i]->conv);
        pn_bn2d_free(all[i]->bnop);
        all[i]->conv = NULL;
        all[i]->bnop = NULL;
    }
    pn_pool_free(m->maxpool);
    pn_pool_free(m->avgpool);
    m->maxpool = m->avgpool = NULL;
    m->ops_n = 0;
}

static void free_layouts(pn_model *m)
{
    for (int i = 0; i < m->nent; i++) {
        cbn *c = m->ent[i].conv;
        if (!c) continue;
        pn_prim_free(&c->to_oihw);
        pn_prim_free(&c->to_master);
        if (c->m_oihw) dnnl_memory_destroy(c->m_oihw);
        if (c->m_master) dnnl_memory_destroy(c->m_master);
        c->m_oihw = c->m_master = NULL;
    }
}

void pn_model_free(pn_model *m)
{
    if (!m) return;
    free_ops(m);
    free_layouts(m);
    pn_dnn_free(m->dnn);
    free(m->w);
    free(m->stats);
    free(m->gw);
    free(m->adam_m);
    free(m->adam_v);
    free(m->acts);
    free(m);
}

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

/* ---- master weight layouts and the torchvision views ------------------------ */

/* Each conv's master layout: the forward primitive's choice at max_batch
 * (OIHW when that layout is padded, so every entry keeps numel floats). */
static pn_status plan_layouts(pn_model *m, pn_error *err)
{
    for (int i = 0; i < m->nent; i++) {
        cbn *c = m->ent[i].conv;
        if (!c) continue;
        pn_conv2d_dims d = {m->cfg.max_batch, c->cin, c->hin, c->win, c->cout, c->k, c->stride,
                            c->pad};
        dnnl_memory_desc_t oihw = pn_dnn_md_oihw(c->cout, c->cin, c->k, c->k);
        PN_TRY(pn_conv2d_weights_md(m->dnn, &d, PN_LAYOUT_BLOCKED, c->trainable, &c->w_md, err));
        if (dnnl_memory_desc_get_size(&c->w_md) != m->ent[i].numel * sizeof(float))
            c->w_md = oihw;
        PN_TRY(pn_reorder_create(&c->to_master, &oihw, &c->w_md, m->dnn, err));
        PN_TRY(pn_reorder_create(&c->to_oihw, &c->w_md, &oihw, m->dnn, err));
        PN_TRY(pn_mem_create(&c->m_oihw, &oihw, m->dnn, err));
        PN_TRY(pn_mem_create(&c->m_master, &c->w_md, m->dnn, err));
    }
    return PN_OK;
}

/* Copy entry e between the torchvision view and the compute layout. */
static pn_status convert(const pn_model *m, const entry *e, const float *src, float *dst,
                         int to_view, pn_error *err)
{
    const cbn *c = e->conv;
    const pn_prim *r = c ? (to_view ? &c->to_oihw : &c->to_master) : NULL;
    if (!r || !r->p) {
        memcpy(dst, src, e->numel * sizeof(float));
        return PN_OK;
    }
    pn_mem_bind(c->m_oihw, to_view ? dst : src);
    pn_mem_bind(c->m_master, to_view ? src : dst);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_FROM, to_view ? c->m_master : c->m_oihw},
                           {DNNL_ARG_TO, to_view ? c->m_oihw : c->m_master}};
    return pn_prim_exec(r, m->dnn, 2, a, "weight layout reorder", err);
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
    pn_status st = pn_dnn_create(&m->dnn, err);
    if (st) {
        free(m);
        return pn_error_prefix(err, "model: ");
    }
    m->blk = pn_dnn_block(m->dnn);
    pn_set_threads(c.threads);
    static const int first[] = {U_FC, 7, 5, 0};
    m->first_train = first[c.freeze];
    plan_network(m);
    /* trainable flags: a unit trains when u >= first_train */
    m->stem.trainable = m->first_train == 0;
    for (int i = 0; i < NBLOCKS; i++) {
        block *b = &m->b[i];
        b->trainable = i + 1 >= m->first_train;
        b->c1.trainable = b->c2.trainable = b->ds.trainable = b->trainable;
    }
    static const char *first_param[] = {"fc.weight", "layer4.0.conv1.weight",
                                        "layer3.0.conv1.weight", "conv1.weight"};
    m->train_off = find_entry(m, first_param[c.freeze])->off;
    size_t ng = m->nparams - m->train_off;
    m->w = aligned_alloc(64, (m->nparams * sizeof(float) + 63) / 64 * 64);
    m->stats = calloc(m->nstats, sizeof(float));
    m->gw = aligned_alloc(64, (ng * sizeof(float) + 63) / 64 * 64);
    m->adam_m = calloc(ng, sizeof(float));
    m->adam_v = calloc(ng, sizeof(float));
    carver cv = {NULL, 0};
    carve_all(m, &cv);
    m->acts_floats = cv.off;
    m->acts = aligned_alloc(64, cv.off * sizeof(float));
    if (!m->w || !m->stats || !m->gw || !m->adam_m || !m->adam_v || !m->acts) {
        size_t mb = (m->acts_floats + 4 * m->nparams) * sizeof(float) >> 20;
        pn_model_free(m);
        return pn_error_set(err, PN_E_NOMEM,
                            "model: cannot allocate %zu MiB for max_batch %d at %dx%d", mb,
                            c.max_batch, c.height, c.width);
    }
    memset(m->acts, 0, cv.off * sizeof(float));
    cv.base = m->acts;
    cv.off = 0;
    carve_all(m, &cv);
    memset(m->w, 0, m->nparams * sizeof(float)); /* conv weights all zero: any layout */
    init_bn_defaults(m);
    memset(m->gw, 0, ng * sizeof(float));
    st = plan_layouts(m, err);
    if (st) {
        pn_model_free(m);
        return pn_error_prefix(err, "model: ");
    }
    m->weights_dirty = 1;
    *out = m;
    return PN_OK;
}

size_t pn_model_memory_bytes(const pn_model *m)
{
    size_t ng = m->nparams - m->train_off;
    return (m->nparams + m->nstats + 3 * ng + m->acts_floats) * sizeof(float);
}

/* ---- oneDNN ops for batch size n ---------------------------------------- */

/* The stem conv reads the NCHW input: the blocked descriptor of a
 * 3-channel tensor is plain NCHW (pn_dnn_act_md). */
static pn_status make_cbn_ops(pn_model *m, cbn *c, int n, pn_error *err)
{
    pn_conv2d_dims d = {n, c->cin, c->hin, c->win, c->cout, c->k, c->stride, c->pad};
    PN_TRY(pn_conv2d_create_md(&c->conv, m->dnn, &d, PN_LAYOUT_BLOCKED, c->trainable, &c->w_md,
                               1, err));
    PN_TRY(pn_bn2d_create(&c->bnop, m->dnn, n, c->cout, c->hout, c->wout, PN_LAYOUT_BLOCKED,
                          c->trainable, c->relu, err));
    return PN_OK;
}

static pn_status set_conv_weights(pn_model *m, int only_trainable, pn_error *err)
{
    if (!m->ops_n) return PN_OK;
    if (!only_trainable || m->stem.trainable)
        PN_TRY(pn_conv2d_set_weights(m->stem.conv, m->w + m->stem.w_off, err));
    for (int i = 0; i < NBLOCKS; i++) {
        block *b = &m->b[i];
        if (only_trainable && !b->trainable) continue;
        PN_TRY(pn_conv2d_set_weights(b->c1.conv, m->w + b->c1.w_off, err));
        PN_TRY(pn_conv2d_set_weights(b->c2.conv, m->w + b->c2.w_off, err));
        if (b->has_ds) PN_TRY(pn_conv2d_set_weights(b->ds.conv, m->w + b->ds.w_off, err));
    }
    return PN_OK;
}

static pn_status build_ops(pn_model *m, int n, pn_error *err)
{
    PN_TRY(make_cbn_ops(m, &m->stem, n, err));
    PN_TRY(pn_maxpool_create(&m->maxpool, m->dnn, n, 64, m->h0, m->w0, 3, 2, 1, PN_LAYOUT_BLOCKED,
                             m->stem.trainable, err));
    for (int i = 0; i < NBLOCKS; i++) {
        block *b = &m->b[i];
        size_t sz = (size_t)n * b->c2.cout * b->c2.hout * b->c2.wout;
        PN_TRY(make_cbn_ops(m, &b->c1, n, err));
        PN_TRY(make_cbn_ops(m, &b->c2, n, err));
        if (b->has_ds) PN_TRY(make_cbn_ops(m, &b->ds, n, err));
        PN_TRY(pn_addrelu_create(&b->addrelu, m->dnn, sz, b->trainable, err));
    }
    const cbn *last = &m->b[NBLOCKS - 1].c2;
    PN_TRY(pn_avgpool_global_create(&m->avgpool, m->dnn, n, FEAT, last->hout, last->wout,
                                    PN_LAYOUT_BLOCKED, m->first_train <= U_POOL, err));
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
    PN_TRY(pn_conv2d_forward(c->conv, x, c->y_conv, err));
    const float *g = m->w + c->g_off, *b = m->w + c->b_off;
    float *rm = m->stats + c->rm_off, *rv = m->stats + c->rv_off;
    if (training) {
        PN_TRY(pn_bn2d_forward(c->bnop, 1, c->y_conv, g, b, c->bmean, c->bvar, c->y_bn, err));
        pn_bn2d_update_running(rm, rv, c->bmean, c->bvar, c->cout,
                               (size_t)n * c->hout * c->wout, PN_BN_MOMENTUM);
        m->nbt[c->bn]++;
    } else {
        PN_TRY(pn_bn2d_forward(c->bnop, 0, c->y_conv, g, b, rm, rv, c->y_bn, err));
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
        return pn_pool_forward(m->maxpool, m->stem.y_bn, m->p0, err);
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
        return pn_addrelu_forward(b->addrelu, b->c2.y_bn, id, b->out, err);
    }
    if (u == U_POOL) return pn_pool_forward(m->avgpool, m->b[NBLOCKS - 1].out, m->feat, err);
    pn_linear_forward(n, FEAT, m->cfg.num_classes, m->feat, m->w + m->fc_w_off,
                      m->w + m->fc_b_off, m->logits);
    return PN_OK;
}

/* Internal activation buffer holding stage s (s > INPUT). */
static float *stage_buffer(pn_model *m, pn_stage s)
{
    switch (s) {
    case PN_STAGE_LAYER2: return m->b[3].out;
    case PN_STAGE_LAYER3: return m->b[5].out;
    case PN_STAGE_POOL: return m->feat;
    default: return m->logits;
    }
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

/* Run units [stage_unit[from], stage_unit[to]) reading the stage input. */
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
        PN_TRY(pn_dnn_to_blocked(m->dnn, in, stage_buffer(m, from), n, c, h * w,
                                 c % m->blk ? 1 : m->blk, err));
    }
    for (int u = stage_unit[from]; u < stage_unit[to]; u++)
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
    return pn_dnn_to_nchw(m->dnn, stage_buffer(m, to), out, n, c, h * w, c % m->blk ? 1 : m->blk,
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
    PN_TRY(pn_bn2d_backward(c->bnop, c->y_conv, dy, m->w + c->g_off, c->bmean, c->bvar,
                            c->d, G + c->g_off, G + c->b_off, err));
    return pn_conv2d_backward(c->conv, x, c->d, dx, G + c->w_off, err);
}

/* Block u-1 backward: d_out -> grads, and (if dx) the grad of its input. */
static pn_status block_backward(pn_model *m, int u, const float *x, int n, float *dx,
                                pn_error *err)
{
    block *b = &m->b[u - 1];
    const float *in = unit_input(m, u, x);
    size_t sz = (size_t)n * b->c2.cout * b->c2.hout * b->c2.wout;
    size_t szin = (size_t)n * b->c1.cin * b->c1.hin * b->c1.win;
    PN_TRY(pn_addrelu_backward(b->addrelu, b->out, b->d_out, b->d_sum, err));
    PN_TRY(cbn_backward(m, &b->c2, b->c1.y_bn, b->d_sum, b->d_r1, err));
    PN_TRY(cbn_backward(m, &b->c1, in, b->d_r1, dx, err));
    if (b->has_ds) {
        PN_TRY(cbn_backward(m, &b->ds, in, b->d_sum, dx ? m->scratch : NULL, err));
        if (dx) pn_add_backward(szin, dx, m->scratch, dx);
    } else if (dx) {
        pn_add_backward(sz, dx, b->d_sum, dx);
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
    PN_TRY(pn_cross_entropy(n, K, m->logits, labels, class_weights, loss, m->dlogits, err));
    float *G = m->gw - m->train_off;
    const float *x = from == PN_STAGE_INPUT ? in : NULL;
    pn_linear_backward(n, FEAT, K, m->feat, m->w + m->fc_w_off, m->dlogits,
                       m->first_train <= U_POOL ? m->d_feat : NULL, G + m->fc_w_off,
                       G + m->fc_b_off);
    if (m->first_train > U_POOL) return PN_OK;
    PN_TRY(pn_pool_backward(m->avgpool, m->d_feat, m->b[NBLOCKS - 1].d_out, err));
    for (int u = NBLOCKS; u >= 1 && u >= m->first_train; u--) {
        float *dx = NULL;
        if (u - 1 >= m->first_train) dx = u == 1 ? m->d_p0 : m->b[u - 2].d_out;
        PN_TRY(block_backward(m, u, x, n, dx, err));
    }
    if (m->first_train == 0) {
        PN_TRY(pn_pool_backward(m->maxpool, m->d_p0, m->d_r0, err));
        PN_TRY(cbn_backward(m, &m->stem, x, m->d_r0, NULL, err));
    }
    return PN_OK;
}

pn_status pn_model_train_step_from(pn_model *m, pn_stage from, const float *in,
                                   const int *labels, int n, const float *class_weights,
                                   double lr, float *loss, float *logits, pn_error *err)
{
    if (!(lr >= 0) || lr > 1e3) return pn_error_set(err, PN_E_ARG, "model: bad learning rate %g", lr);
    PN_TRY(pn_model_backward_from(m, from, in, labels, n, class_weights, loss, logits, err));
    pn_adam_config ac = {lr, 0.9, 0.999, 1e-8};
    m->adam_step++;
    pn_adam_step(m->nparams - m->train_off, m->w + m->train_off, m->gw, m->adam_m, m->adam_v,
                 m->adam_step, &ac);
    return set_conv_weights(m, 1, err);
}

pn_status pn_model_train_step(pn_model *m, const float *x, const int *labels, int n,
                              const float *class_weights, double lr, float *loss, float *logits,
                              pn_error *err)
{
    return pn_model_train_step_from(m, PN_STAGE_INPUT, x, labels, n, class_weights, lr, loss,
                                    logits, err);
}

/* ---- tensors by name: copies in torchvision layout ------------------------ */

/* A float tensor (parameter or running stat) by name, n checked. */
static pn_status find_float(const pn_model *m, const char *name, size_t n, const entry **out,
                            pn_error *err)
{
    const entry *e = name ? find_entry(m, name) : NULL;
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
    const entry *e = name ? find_entry(m, name) : NULL;
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
float *pn_model_param(pn_model *m, const char *name, size_t *numel)
{
    const entry *e = find_entry(m, name);
    if (!e || e->kind == E_NBT || e->conv) return NULL;
    if (numel) *numel = e->numel;
    return (e->kind == E_PARAM ? m->w : m->stats) + e->off;
}

/* Append "s" to a bounded list buffer, "..." once full. */
static void list_add(char *buf, size_t cap, const char *s)
{
    size_t l = strlen(buf);
    if (l + strlen(s) + 8 >= cap) {
        if (l + 4 < cap && (l < 3 || strcmp(buf + l - 3, "..."))) strcat(buf, " ...");
        return;
    }
    if (l) strcat(buf, ", ");
    strcat(buf, s);
}

pn_status pn_model_load(pn_model *m, const pn_statedict *sd, int skip_fc, pn_error *err)
{
    char missing[400] = "", extra[400] = "", bad[500] = "";
    int nmiss = 0, nextra = 0, nbad = 0;
    for (int i = 0; i < m->nent; i++) {
        const entry *e = &m->ent[i];
        if (skip_fc && !strncmp(e->name, "fc.", 3)) continue;
        const pn_tensor *t = pn_statedict_findc(sd, e->name);
        if (!t) {
            if (e->kind == E_NBT) continue; /* optional */
            list_add(missing, sizeof missing, e->name), nmiss++;
            continue;
        }
        int ok = t->ndim == e->ndim;
        for (int j = 0; ok && j < e->ndim; j++) ok = t->shape[j] == e->shape[j];
        if (e->kind == E_NBT) ok = t->numel == 1 && t->dtype == PN_I64;
        else ok = ok && t->dtype == PN_F32;
        if (!ok) {
            char got[96], want[96], item[260];
            pn_shape_str(t->ndim, t->shape, got, sizeof got);
            pn_shape_str(e->ndim, e->shape, want, sizeof want);
            snprintf(item, sizeof item, "%s %s %s (want %s %s)", e->name, pn_dtype_name(t->dtype),
                     got, e->kind == E_NBT ? "int64" : "float32", want);
            list_add(bad, sizeof bad, item), nbad++;
        }
    }
    for (size_t i = 0; i < sd->n; i++) {
        const char *nm = sd->t[i].name;
        if (skip_fc && !strncmp(nm, "fc.", 3)) continue;
        if (!find_entry(m, nm)) list_add(extra, sizeof extra, nm), nextra++;
    }
    if (nmiss || nextra || nbad) {
        return pn_error_set(err, PN_E_FORMAT,
                            "state dict does not fit resnet18(num_classes=%d): %d missing [%s], "
                            "%d unexpected [%s], %d mis-shaped [%s]%s",
                            m->cfg.num_classes, nmiss, missing, nextra, extra, nbad, bad,
                            (!skip_fc && strstr(bad, "fc.")) ? " (skip fc to keep a new head)"
                                                            : "");
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

static void hash_md(pn_sha256 *h, const cbn *c)
{
    const dnnl_memory_desc_t *d = &c->w_md;
    pn_sha256_update(h, &d->ndims, sizeof d->ndims);
    pn_sha256_update(h, d->dims, sizeof d->dims);
    pn_sha256_update(h, d->padded_dims, sizeof d->padded_dims);
    pn_sha256_update(h, &d->format_kind, sizeof d->format_kind);
    const dnnl_blocking_desc_t *b = &d->format_desc.blocking;
    pn_sha256_update(h, b->strides, sizeof b->strides);
    pn_sha256_update(h, &b->inner_nblks, sizeof b->inner_nblks);
    pn_sha256_update(h, b->inner_blks, sizeof b->inner_blks);
    pn_sha256_update(h, b->inner_idxs, sizeof b->inner_idxs);
}

pn_status pn_model_opt_state(pn_model *m, pn_model_opt *o, pn_error *err)
{
    pn_sha256 h;
    PN_TRY(pn_sha256_init(&h, err));
    int64_t k[5] = {m->cfg.freeze, m->cfg.num_classes, (int64_t)m->nparams, (int64_t)m->train_off,
                    m->blk};
    pn_sha256_update(&h, "pneumo-adam-layout-v1", 21);
    pn_sha256_update(&h, k, sizeof k);
    hash_md(&h, &m->stem);
    for (int i = 0; i < NBLOCKS; i++) {
        hash_md(&h, &m->b[i].c1);
        hash_md(&h, &m->b[i].c2);
        if (m->b[i].has_ds) hash_md(&h, &m->b[i].ds);
    }
    pn_sha256_final(&h, o->layout);
    o->m = m->adam_m;
    o->v = m->adam_v;
    o->n = m->nparams - m->train_off;
    o->step = m->adam_step;
    return PN_OK;
}

pn_status pn_model_set_adam_steps(pn_model *m, long steps, pn_error *err)
{
    if (steps < 0) return pn_error_set(err, PN_E_ARG, "model: Adam step count %ld < 0", steps);
    m->adam_step = steps;
    return PN_OK;
}
