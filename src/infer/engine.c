/* The ResNet-18 inference engine on oneDNN: plans (primitives + memory
 * objects per batch size) over buffers shared by all plans, and the run. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "infer/infer_internal.h"

#define NBUF 4        /* 0..2 activations (ping-pong), 3 pooled features */
#define MAX_ARGS 6

typedef struct step {
    dnnl_primitive_t p;
    int nargs;
    dnnl_exec_arg_t a[MAX_ARGS];
} step;

typedef struct memref {
    dnnl_memory_t m;
    int buf; /* index into e->buf, or -1: owns its data / handle set per call */
} memref;

typedef struct plan {
    int n;
    step *st;            /* the forward, in order */
    int nst, capst;
    memref *mem;         /* every memory object of this plan (freed with it) */
    int nmem, capmem;
    dnnl_memory_t in_user;   /* (n,3,H,W) f32 nchw; handle = caller's x */
    dnnl_memory_t out_user;  /* stop stage f32 nchw; handle = caller's out (or pool_f32) */
    dnnl_memory_t l4_user;   /* (n,512,h,w) f32 nchw; handle = caller's layer4 */
    step out_reorder, l4_reorder;
} plan;

typedef struct layer_mem {
    dnnl_memory_t w, b; /* weights in the base plan's preferred layout, bias */
} layer_mem;

struct pn_infer {
    pn_infer_config cfg;
    int bf16, threads;
    char notice[200];
    int64_t shp[PN_STAGE_COUNT][3];
    pn_inet net;
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    layer_mem stem, c1[PN_RN_BLOCKS], c2[PN_RN_BLOCKS], ds[PN_RN_BLOCKS];
    void *buf[NBUF];
    size_t bufsz[NBUF];
    float *pool_f32; /* (max_batch, 512) for the fc */
    plan **plans;    /* [max_batch + 1], built on first use */
};

/* ---- small oneDNN helpers ---------------------------------------------- */

static const char *dnnl_status_str(dnnl_status_t s)
{
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "no implementation";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    }
    return "unknown status";
}

#define DN(call, what)                                                                       \
    do {                                                                                     \
        dnnl_status_t dn_s_ = (call);                                                        \
        if (dn_s_ != dnnl_success)                                                           \
            return pn_error_set(err, dn_s_ == dnnl_out_of_memory ? PN_E_NOMEM : PN_E_BACKEND, \
                                "oneDNN %s: %s failed: %s", (what), #call,                   \
                                dnnl_status_str(dn_s_));                                     \
    } while (0)

#define TRY(x)                                        \
    do {                                              \
        pn_status try_s_ = (x);                       \
        if (try_s_ != PN_OK) return try_s_;           \
    } while (0)

static dnnl_memory_desc_t md4(int64_t n, int64_t c, int64_t h, int64_t w, dnnl_data_type_t dt,
                              dnnl_format_tag_t tag)
{
    dnnl_memory_desc_t md;
    dnnl_dims_t d = {n, c, h, w};
    dnnl_memory_desc_init_by_tag(&md, 4, d, dt, tag);
    return md;
}

/* Activation layout between layers. fp32: nChw16c, which selects oneDNN's
 * direct jit:avx512_core convs; with `any`, oneDNN 2.6 picks nhwc + brgconv,
 * whose longer fp32 accumulation chains give 3x PyTorch's error (1.3e-5 vs
 * 3.8e-6 at layer4, see docs/inference.md). bf16: oneDNN's choice.
 * PNEUMO_INFER_LAYOUT=any|nchw16c|nhwc overrides (for measurements). */
static dnnl_format_tag_t act_tag(int bf16)
{
    const char *v = getenv("PNEUMO_INFER_LAYOUT");
    if (v && !strcmp(v, "nchw16c")) return dnnl_nChw16c;
    if (v && !strcmp(v, "nhwc")) return dnnl_nhwc;
    if (v && !strcmp(v, "any")) return dnnl_format_tag_any;
    return bf16 ? dnnl_format_tag_any : dnnl_nChw16c;
}

static pn_status plan_add_mem(plan *p, const dnnl_memory_desc_t *md, int buf, void *handle,
                              pn_infer *e, dnnl_memory_t *out, pn_error *err)
{
    if (p->nmem == p->capmem) {
        int cap = p->capmem ? 2 * p->capmem : 64;
        memref *m = realloc(p->mem, sizeof *m * (size_t)cap);
        if (!m) return pn_error_set(err, PN_E_NOMEM, "inference plan: out of memory");
        p->mem = m, p->capmem = cap;
    }
    DN(dnnl_memory_create(out, md, e->eng, handle), "memory");
    p->mem[p->nmem++] = (memref){*out, buf};
    if (buf >= 0) {
        size_t sz = dnnl_memory_desc_get_size(md);
        if (e->buf[buf] == NULL) { /* base plan: sizing pass */
            if (sz > e->bufsz[buf]) e->bufsz[buf] = sz;
        } else if (sz > e->bufsz[buf]) {
            return pn_error_set(err, PN_E_BACKEND,
                                "inference plan for batch %d needs %zu bytes in buffer %d, "
                                "which has %zu",
                                p->n, sz, buf, e->bufsz[buf]);
        }
    }
    return PN_OK;
}

static pn_status plan_add_step(plan *p, dnnl_primitive_desc_t pd, int nargs,
                               const dnnl_exec_arg_t *a, pn_error *err)
{
    if (p->nst == p->capst) {
        int cap = p->capst ? 2 * p->capst : 32;
        step *s = realloc(p->st, sizeof *s * (size_t)cap);
        if (!s) return pn_error_set(err, PN_E_NOMEM, "inference plan: out of memory");
        p->st = s, p->capst = cap;
    }
    step *s = &p->st[p->nst];
    DN(dnnl_primitive_create(&s->p, pd), "primitive");
    s->nargs = nargs;
    memcpy(s->a, a, sizeof *a * (size_t)nargs);
    p->nst++;
    return PN_OK;
}

/* A reorder src -> dst as a step (or into *one when one != NULL). */
static pn_status reorder_step(pn_infer *e, plan *p, dnnl_memory_t src, dnnl_memory_t dst,
                              step *one, pn_error *err)
{
    const dnnl_memory_desc_t *smd, *dmd;
    dnnl_memory_get_memory_desc(src, &smd);
    dnnl_memory_get_memory_desc(dst, &dmd);
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, smd, e->eng, dmd, e->eng, NULL), "reorder");
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    pn_status st;
    if (one) {
        dnnl_status_t s = dnnl_primitive_create(&one->p, pd);
        st = s == dnnl_success ? PN_OK
                               : pn_error_set(err, PN_E_BACKEND, "oneDNN reorder: %s",
                                              dnnl_status_str(s));
        one->nargs = 2;
        memcpy(one->a, a, sizeof a);
    } else {
        st = plan_add_step(p, pd, 2, a, err);
    }
    dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Run a one-off reorder now (weights upload). */
static pn_status reorder_now(pn_infer *e, dnnl_memory_t src, dnnl_memory_t dst, pn_error *err)
{
    const dnnl_memory_desc_t *smd, *dmd;
    dnnl_memory_get_memory_desc(src, &smd);
    dnnl_memory_get_memory_desc(dst, &dmd);
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t r;
    DN(dnnl_reorder_primitive_desc_create(&pd, smd, e->eng, dmd, e->eng, NULL), "weights reorder");
    dnnl_status_t s = dnnl_primitive_create(&r, pd);
    dnnl_primitive_desc_destroy(pd);
    DN(s, "weights reorder");
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    s = dnnl_primitive_execute(r, e->strm, 2, a);
    if (s == dnnl_success) s = dnnl_stream_wait(e->strm);
    dnnl_primitive_destroy(r);
    DN(s, "weights reorder");
    return PN_OK;
}

/* The weights (or bias) memory this pd wants: the base copy when its layout
 * matches, else a plan-owned copy reordered from it. On the base plan, the
 * folded float OIHW weights are uploaded into the preferred layout. */
static pn_status weights_for(pn_infer *e, plan *p, dnnl_memory_t *base, const float *user,
                             const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *want,
                             dnnl_memory_t *out, pn_error *err)
{
    if (!*base) {
        dnnl_memory_t um;
        DN(dnnl_memory_create(base, want, e->eng, DNNL_MEMORY_ALLOCATE), "weights memory");
        DN(dnnl_memory_create(&um, user_md, e->eng, (void *)user), "weights memory");
        pn_status st = reorder_now(e, um, *base, err);
        dnnl_memory_destroy(um);
        TRY(st);
    }
    const dnnl_memory_desc_t *have;
    dnnl_memory_get_memory_desc(*base, &have);
    if (dnnl_memory_desc_equal(have, want)) {
        *out = *base;
        return PN_OK;
    }
    TRY(plan_add_mem(p, want, -1, DNNL_MEMORY_ALLOCATE, e, out, err));
    return reorder_now(e, *base, *out, err);
}

/* One conv (BN folded into weights + bias), optional sum and relu post-ops.
 * src (n, ic, h, w) -> dst (n, oc, oh, ow) in buffer dbuf; when dst_fixed is
 * given, dst is that existing memory (the residual, for sum). */
static pn_status add_conv(pn_infer *e, plan *p, const pn_iconv *c, layer_mem *lm,
                          dnnl_memory_t src, int dbuf, dnnl_memory_t dst_fixed, int sum, int relu,
                          dnnl_memory_t *dst_out, pn_error *err)
{
    dnnl_data_type_t dt = e->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_memory_desc_t *smd;
    dnnl_memory_get_memory_desc(src, &smd);
    int64_t h = smd->dims[2], w = smd->dims[3];
    int64_t oh = (h + 2 * c->pad - c->k) / c->stride + 1;
    int64_t ow = (w + 2 * c->pad - c->k) / c->stride + 1;
    dnnl_memory_desc_t wmd = md4(c->oc, c->ic, c->k, c->k, dt, dnnl_format_tag_any);
    dnnl_memory_desc_t bmd;
    dnnl_dims_t bd = {c->oc};
    dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
    dnnl_memory_desc_t dmd;
    if (dst_fixed) {
        const dnnl_memory_desc_t *fmd;
        dnnl_memory_get_memory_desc(dst_fixed, &fmd);
        dmd = *fmd;
    } else {
        dmd = md4(p->n, c->oc, oh, ow, dt, act_tag(e->bf16));
    }
    dnnl_dims_t strides = {c->stride, c->stride}, pad = {c->pad, c->pad};
    dnnl_convolution_desc_t cd;
    DN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                          smd, &wmd, &bmd, &dmd, strides, pad, pad),
       c->name);
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    DN(dnnl_primitive_attr_create(&attr), c->name);
    DN(dnnl_post_ops_create(&po), c->name);
    if (sum) dnnl_post_ops_append_sum(po, 1.0f);
    if (relu) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.f, 0.f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, attr, e->eng, NULL);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    DN(s, c->name);

    pn_status st = PN_OK;
    dnnl_memory_t wm = NULL, bm = NULL, dm = dst_fixed;
    dnnl_memory_desc_t uwmd = md4(c->oc, c->ic, c->k, c->k, dnnl_f32, dnnl_oihw);
    st = weights_for(e, p, &lm->w, c->w, &uwmd,
                     dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &wm, err);
    if (st == PN_OK)
        st = weights_for(e, p, &lm->b, c->b, &bmd,
                         dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), &bm, err);
    if (st == PN_OK && !dm)
        st = plan_add_mem(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), dbuf, NULL,
                          e, &dm, err);
    if (st == PN_OK) {
        /* the src layout is fixed by the previous layer; check it was kept */
        if (!dnnl_memory_desc_equal(smd, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)))
            st = pn_error_set(err, PN_E_BACKEND, "oneDNN %s: the conv changed its input layout",
                              c->name);
    }
    if (st == PN_OK) {
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm},
                                {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, dm}};
        st = plan_add_step(p, pd, 4, a, err);
    }
    dnnl_primitive_desc_destroy(pd);
    if (st == PN_OK) *dst_out = dm;
    return st;
}

/* Pooling (max 3x3/2 pad 1, or global average): src -> new memory in dbuf. */
static pn_status add_pool(pn_infer *e, plan *p, dnnl_memory_t src, int avg, int dbuf,
                          dnnl_memory_t *dst_out, pn_error *err)
{
    dnnl_data_type_t dt = e->bf16 ? dnnl_bf16 : dnnl_f32;
    const dnnl_memory_desc_t *smd;
    dnnl_memory_get_memory_desc(src, &smd);
    int64_t c = smd->dims[1], h = smd->dims[2], w = smd->dims[3];
    int64_t oh = avg ? 1 : (h + 2 - 3) / 2 + 1, ow = avg ? 1 : (w + 2 - 3) / 2 + 1;
    dnnl_dims_t strides = {avg ? 1 : 2, avg ? 1 : 2}, kernel = {avg ? h : 3, avg ? w : 3};
    dnnl_dims_t dil = {0, 0}, pad = {avg ? 0 : 1, avg ? 0 : 1};
    dnnl_memory_desc_t dmd = md4(p->n, c, oh, ow, dt, act_tag(e->bf16));
    dnnl_pooling_v2_desc_t d;
    const char *what = avg ? "global average pool" : "maxpool";
    DN(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference,
                                         avg ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_max,
                                         smd, &dmd, strides, kernel, dil, pad, pad),
       what);
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &d, NULL, e->eng, NULL), what);
    dnnl_memory_t dm = NULL;
    pn_status st = plan_add_mem(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), dbuf,
                                NULL, e, &dm, err);
    if (st == PN_OK) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dm}};
        st = plan_add_step(p, pd, 2, a, err);
    }
    dnnl_primitive_desc_destroy(pd);
    if (st == PN_OK) *dst_out = dm;
    return st;
}

static int other_buf(int a, int b)
{
    for (int i = 0; i < 3; i++)
        if (i != a && i != b) return i;
    return 0;
}

static void plan_free(plan *p)
{
    if (!p) return;
    for (int i = 0; i < p->nst; i++) dnnl_primitive_destroy(p->st[i].p);
    if (p->out_reorder.p) dnnl_primitive_destroy(p->out_reorder.p);
    if (p->l4_reorder.p) dnnl_primitive_destroy(p->l4_reorder.p);
    for (int i = 0; i < p->nmem; i++) dnnl_memory_destroy(p->mem[i].m);
    free(p->st);
    free(p->mem);
    free(p);
}

/* Build the plan for batch n. The first plan built (the base, n = max_batch)
 * also sizes and allocates the shared buffers and uploads the weights. */
static pn_status plan_build(pn_infer *e, int n, plan **out, pn_error *err)
{
    plan *p = calloc(1, sizeof *p);
    if (!p) return pn_error_set(err, PN_E_NOMEM, "inference plan: out of memory");
    p->n = n;
    pn_status st = PN_OK;
    dnnl_data_type_t dt = e->bf16 ? dnnl_bf16 : dnnl_f32;
    const pn_infer_config *cfg = &e->cfg;
    pn_stage stop = cfg->stop;
    int base = e->buf[0] == NULL;

#define GO(x)                               \
    do {                                    \
        if (st == PN_OK) st = (x);          \
    } while (0)

    // input: x (n,3,H,W) f32 nchw, handle set per call
    dnnl_memory_desc_t umd = md4(n, 3, cfg->height, cfg->width, dnnl_f32, dnnl_nchw);
    GO(plan_add_mem(p, &umd, -1, NULL, e, &p->in_user, err));

    // stem conv: decide the input layout the conv wants (3 channels: special case)
    dnnl_memory_t x = p->in_user;
    if (st == PN_OK) {
        int64_t oh = (cfg->height + 6 - 7) / 2 + 1, ow = (cfg->width + 6 - 7) / 2 + 1;
        dnnl_memory_desc_t smd = md4(n, 3, cfg->height, cfg->width, dt, dnnl_format_tag_any);
        dnnl_memory_desc_t wmd = md4(64, 3, 7, 7, dt, dnnl_format_tag_any);
        dnnl_memory_desc_t dmd = md4(n, 64, oh, ow, dt, act_tag(e->bf16)), bmd;
        dnnl_dims_t bd = {64}, s2 = {2, 2}, p3 = {3, 3};
        dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
        dnnl_convolution_desc_t cd;
        dnnl_primitive_desc_t pd = NULL;
        dnnl_status_t s = dnnl_convolution_forward_desc_init(
            &cd, dnnl_forward_inference, dnnl_convolution_direct, &smd, &wmd, &bmd, &dmd, s2, p3,
            p3);
        if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &cd, NULL, e->eng, NULL);
        if (s != dnnl_success)
            st = pn_error_set(err, PN_E_BACKEND, "oneDNN conv1: no implementation (%s)",
                              dnnl_status_str(s));
        if (st == PN_OK) {
            const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
            if (!dnnl_memory_desc_equal(want, &umd)) {
                GO(plan_add_mem(p, want, 1, NULL, e, &x, err));
                GO(reorder_step(e, p, p->in_user, x, NULL, err));
            }
        }
        if (pd) dnnl_primitive_desc_destroy(pd);
    }
    // stem: conv1+bn1+relu -> buf 0 (n,64,H/2,W/2); maxpool -> buf 1 (n,64,H/4,W/4)
    dnnl_memory_t y = NULL;
    GO(add_conv(e, p, &e->net.stem, &e->stem, x, 0, NULL, 0, 1, &y, err));
    GO(add_pool(e, p, y, 0, 1, &x, err));
    int cur = 1;
    dnnl_memory_t stage_out[PN_STAGE_COUNT] = {x};

    // blocks: x (cur) -> t = relu(conv1 x) ; out = relu(conv2 t + identity)
    for (int j = 0; st == PN_OK && j < e->net.nblocks; j++) {
        int tb = other_buf(cur, -1);
        dnnl_memory_t t = NULL, id = x;
        GO(add_conv(e, p, &e->net.c1[j], &e->c1[j], x, tb, NULL, 0, 1, &t, err));
        if (e->net.ds[j].oc) {
            int db = other_buf(cur, tb);
            GO(add_conv(e, p, &e->net.ds[j], &e->ds[j], x, db, NULL, 0, 0, &id, err));
            cur = db;
        }
        GO(add_conv(e, p, &e->net.c2[j], &e->c2[j], t, -1, id, 1, 1, &x, err));
        if (j % 2 == 1) stage_out[PN_STAGE_LAYER1 + j / 2] = x;
    }
    if (stop >= PN_STAGE_POOL) GO(add_pool(e, p, x, 1, 3, &stage_out[PN_STAGE_POOL], err));

    // outputs: stop stage (LOGITS: the pooled features into e->pool_f32) and layer4
    pn_stage os = stop == PN_STAGE_LOGITS ? PN_STAGE_POOL : stop;
    if (st == PN_OK) {
        const int64_t *s = e->shp[os];
        dnnl_memory_desc_t omd = md4(n, s[0], s[1], s[2], dnnl_f32, dnnl_nchw);
        GO(plan_add_mem(p, &omd, -1, NULL, e, &p->out_user, err));
        GO(reorder_step(e, p, stage_out[os], p->out_user, &p->out_reorder, err));
    }
    if (st == PN_OK && cfg->want_layer4) {
        const int64_t *s = e->shp[PN_STAGE_LAYER4];
        dnnl_memory_desc_t omd = md4(n, s[0], s[1], s[2], dnnl_f32, dnnl_nchw);
        GO(plan_add_mem(p, &omd, -1, NULL, e, &p->l4_user, err));
        GO(reorder_step(e, p, stage_out[PN_STAGE_LAYER4], p->l4_user, &p->l4_reorder, err));
    }
#undef GO
    if (st == PN_OK && base) { /* allocate the shared buffers now that sizes are known */
        for (int i = 0; i < NBUF; i++) {
            size_t sz = (e->bufsz[i] + 63) / 64 * 64;
            e->bufsz[i] = sz ? sz : 64;
            e->buf[i] = aligned_alloc(64, e->bufsz[i]);
            if (!e->buf[i]) {
                st = pn_error_set(err, PN_E_NOMEM, "inference buffers: out of memory (%zu bytes)",
                                  e->bufsz[i]);
                break;
            }
        }
    }
    for (int i = 0; st == PN_OK && i < p->nmem; i++)
        if (p->mem[i].buf >= 0) {
            dnnl_status_t s = dnnl_memory_set_data_handle(p->mem[i].m, e->buf[p->mem[i].buf]);
            if (s != dnnl_success)
                st = pn_error_set(err, PN_E_BACKEND, "oneDNN set handle: %s", dnnl_status_str(s));
        }
    if (st != PN_OK) {
        plan_free(p);
        return st;
    }
    *out = p;
    return PN_OK;
}

/* ---- public API ----------------------------------------------------------- */

static const char *const stage_names[PN_STAGE_COUNT] = {"stem",   "layer1", "layer2", "layer3",
                                                         "layer4", "pool",   "logits"};

const char *pn_stage_name(pn_stage s)
{
    return (s >= 0 && s < PN_STAGE_COUNT) ? stage_names[s] : "?";
}

int pn_stage_from_name(const char *name)
{
    for (int i = 0; name && i < PN_STAGE_COUNT; i++)
        if (!strcmp(name, stage_names[i])) return i;
    return -1;
}

pn_infer_config pn_infer_config_default(void)
{
    return (pn_infer_config){.max_batch = 32, .height = 224, .width = 224, .threads = 0,
                             .bf16 = 0, .stop = PN_STAGE_LOGITS, .want_layer4 = 0};
}

static int64_t down2(int64_t h, int k, int pad) { return (h + 2 * pad - k) / 2 + 1; }

pn_status pn_infer_create(pn_infer **out, const pn_statedict *sd, const pn_infer_config *cfgp,
                          pn_error *err)
{
    if (!out || !sd) return pn_error_set(err, PN_E_ARG, "pn_infer_create: NULL argument");
    *out = NULL;
    pn_infer_config cfg = cfgp ? *cfgp : pn_infer_config_default();
    if (cfg.max_batch < 1 || cfg.max_batch > 4096)
        return pn_error_set(err, PN_E_ARG, "inference: max_batch %d is not in 1..4096",
                            cfg.max_batch);
    if (cfg.height < 32 || cfg.height > 4096 || cfg.width < 32 || cfg.width > 4096)
        return pn_error_set(err, PN_E_ARG, "inference: input size %dx%d is not in 32..4096",
                            cfg.height, cfg.width);
    if (cfg.threads < 0 || cfg.threads > 1024)
        return pn_error_set(err, PN_E_ARG, "inference: threads %d is not in 0..1024", cfg.threads);
    if ((int)cfg.stop < 0 || cfg.stop >= PN_STAGE_COUNT)
        return pn_error_set(err, PN_E_ARG, "inference: unknown stop stage %d", (int)cfg.stop);
    if (cfg.want_layer4 && cfg.stop < PN_STAGE_LAYER4)
        return pn_error_set(err, PN_E_ARG,
                            "inference: want_layer4 needs stop >= layer4 (stop is %s)",
                            pn_stage_name(cfg.stop));
    pn_infer *e = calloc(1, sizeof *e);
    if (!e) return pn_error_set(err, PN_E_NOMEM, "inference: out of memory");
    e->cfg = cfg;
    e->threads = cfg.threads ? cfg.threads : omp_get_num_procs();
    e->bf16 = cfg.bf16 != 0;
    if (e->bf16) {
        dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
        if ((isa & dnnl_cpu_isa_avx512_core_bf16) != dnnl_cpu_isa_avx512_core_bf16) {
            e->bf16 = 0;
            snprintf(e->notice, sizeof e->notice,
                     "notice: this CPU has no avx512_core_bf16 (oneDNN ISA 0x%x); "
                     "running inference in fp32",
                     (unsigned)isa);
        }
    }
    // per-image shapes (C, H, W) of each stage
    int64_t h = down2(down2(cfg.height, 7, 3), 3, 1), w = down2(down2(cfg.width, 7, 3), 3, 1);
    for (int s = PN_STAGE_STEM; s <= PN_STAGE_LAYER4; s++) {
        if (s >= PN_STAGE_LAYER2) h = down2(h, 3, 1), w = down2(w, 3, 1);
        int64_t c = s == PN_STAGE_STEM ? 64 : 64 << (s - 1);
        e->shp[s][0] = c, e->shp[s][1] = h, e->shp[s][2] = w;
    }
    e->shp[PN_STAGE_POOL][0] = 512, e->shp[PN_STAGE_POOL][1] = e->shp[PN_STAGE_POOL][2] = 1;

    pn_status st = pn_inet_gather(&e->net, sd, cfg.stop, err);
    if (st != PN_OK) {
        free(e);
        return st;
    }
    e->shp[PN_STAGE_LOGITS][0] = e->net.ncls;
    e->shp[PN_STAGE_LOGITS][1] = e->shp[PN_STAGE_LOGITS][2] = 1;
    omp_set_num_threads(e->threads);
    dnnl_status_t s = dnnl_engine_create(&e->eng, dnnl_cpu, 0);
    if (s == dnnl_success) s = dnnl_stream_create(&e->strm, e->eng, dnnl_stream_default_flags);
    if (s != dnnl_success)
        st = pn_error_set(err, PN_E_BACKEND, "oneDNN engine: %s", dnnl_status_str(s));
    e->plans = calloc((size_t)cfg.max_batch + 1, sizeof *e->plans);
    e->pool_f32 = malloc(sizeof(float) * 512 * (size_t)cfg.max_batch);
    if (st == PN_OK && (!e->plans || !e->pool_f32))
        st = pn_error_set(err, PN_E_NOMEM, "inference: out of memory");
    if (st == PN_OK) st = plan_build(e, cfg.max_batch, &e->plans[cfg.max_batch], err);
    if (st == PN_OK) {
        /* the weights now live in oneDNN's layout; drop the float copies */
        free(e->net.stem.w), e->net.stem.w = NULL;
        for (int j = 0; j < PN_RN_BLOCKS; j++) {
            free(e->net.c1[j].w), e->net.c1[j].w = NULL;
            free(e->net.c2[j].w), e->net.c2[j].w = NULL;
            free(e->net.ds[j].w), e->net.ds[j].w = NULL;
        }
    }
    if (st != PN_OK) {
        pn_infer_free(e);
        return st;
    }
    if (e->notice[0] && err) pn_error_set(err, PN_OK, "%s", e->notice);
    *out = e;
    return PN_OK;
}

pn_status pn_infer_run(pn_infer *e, const float *x, int n, float *out, float *layer4,
                       pn_error *err)
{
    if (!e || !x || !out)
        return pn_error_set(err, PN_E_ARG, "pn_infer_run: NULL engine, input or output");
    if (n < 1 || n > e->cfg.max_batch)
        return pn_error_set(err, PN_E_ARG, "pn_infer_run: batch of %d images is not in 1..%d "
                            "(the engine's max_batch)", n, e->cfg.max_batch);
    if (layer4 && !e->cfg.want_layer4)
        return pn_error_set(err, PN_E_ARG,
                            "pn_infer_run: layer4 output requested but the engine was created "
                            "without want_layer4");
    omp_set_num_threads(e->threads);
    if (!e->plans[n]) TRY(plan_build(e, n, &e->plans[n], err));
    plan *p = e->plans[n];
    int logits = e->cfg.stop == PN_STAGE_LOGITS;
    DN(dnnl_memory_set_data_handle(p->in_user, (void *)x), "input");
    DN(dnnl_memory_set_data_handle(p->out_user, logits ? (void *)e->pool_f32 : (void *)out),
       "output");
    if (layer4) DN(dnnl_memory_set_data_handle(p->l4_user, layer4), "layer4 output");
    for (int i = 0; i < p->nst; i++)
        DN(dnnl_primitive_execute(p->st[i].p, e->strm, p->st[i].nargs, p->st[i].a), "forward");
    if (layer4)
        DN(dnnl_primitive_execute(p->l4_reorder.p, e->strm, 2, p->l4_reorder.a), "layer4 output");
    DN(dnnl_primitive_execute(p->out_reorder.p, e->strm, 2, p->out_reorder.a), "output");
    DN(dnnl_stream_wait(e->strm), "forward");
    if (logits) {
        // fc: out (n, K) = pool (n, 512) . fcw (K, 512)^T + fcb, accumulated in double
        int K = e->net.ncls;
        for (int i = 0; i < n; i++)
            for (int k = 0; k < K; k++) {
                const float *f = e->pool_f32 + (size_t)i * 512, *wk = e->net.fcw + (size_t)k * 512;
                double acc = e->net.fcb[k];
                for (int j = 0; j < 512; j++) acc += (double)f[j] * wk[j];
                out[(size_t)i * K + k] = (float)acc;
            }
    }
    return PN_OK;
}

static void lm_free(layer_mem *m)
{
    if (m->w) dnnl_memory_destroy(m->w);
    if (m->b) dnnl_memory_destroy(m->b);
    m->w = m->b = NULL;
}

void pn_infer_free(pn_infer *e)
{
    if (!e) return;
    if (e->plans)
        for (int i = 0; i <= e->cfg.max_batch; i++) plan_free(e->plans[i]);
    free(e->plans);
    lm_free(&e->stem);
    for (int j = 0; j < PN_RN_BLOCKS; j++) lm_free(&e->c1[j]), lm_free(&e->c2[j]), lm_free(&e->ds[j]);
    for (int i = 0; i < NBUF; i++) free(e->buf[i]);
    free(e->pool_f32);
    pn_inet_free(&e->net);
    if (e->strm) dnnl_stream_destroy(e->strm);
    if (e->eng) dnnl_engine_destroy(e->eng);
    free(e);
}

size_t pn_infer_stage_shape(const pn_infer *e, pn_stage s, int64_t chw[3])
{
    if (!e || (int)s < 0 || s >= PN_STAGE_COUNT || s > e->cfg.stop) {
        if (chw) chw[0] = chw[1] = chw[2] = 0;
        return 0;
    }
    if (chw) memcpy(chw, e->shp[s], sizeof e->shp[s]);
    return (size_t)(e->shp[s][0] * e->shp[s][1] * e->shp[s][2]);
}

int pn_infer_is_bf16(const pn_infer *e) { return e ? e->bf16 : 0; }
int pn_infer_threads(const pn_infer *e) { return e ? e->threads : 0; }
int pn_infer_num_classes(const pn_infer *e) { return e ? e->net.ncls : 0; }
const char *pn_infer_notice(const pn_infer *e) { return e ? e->notice : ""; }
