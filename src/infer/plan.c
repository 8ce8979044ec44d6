/* Building the inference plan for one batch size: the oneDNN primitives
 * (convs with folded BN and fused post-ops, poolings, reorders), their
 * memory objects on the engine's shared buffers, and the weight upload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"

/* ---- helpers on src/ops/dnn.c --------------------------------------------- */

/* Activation layout between layers. fp32: nChw16c (nChw8c on AVX2), which
 * selects oneDNN's direct jit:avx512_core (jit:avx2) convs; with `any`, oneDNN 2.6 picks nhwc + brgconv,
 * whose longer fp32 accumulation chains give 3x PyTorch's error (1.3e-5 vs
 * 3.8e-6 at layer4, see docs/inference.md). bf16: oneDNN's choice.
 * PNEUMO_INFER_LAYOUT=any|nchw16c|nhwc|nchw overrides (for measurements). */
static dnnl_format_tag_t act_tag(const pn_infer *e)
{
    int bf16 = e->bf16;
    if (e->int8) return dnnl_nhwc; /* what oneDNN's jit int8 convs (avx2 .. avx512_core_vnni) use */
    const char *v = getenv("PNEUMO_INFER_LAYOUT");
    if (v && !strcmp(v, "nchw16c")) return dnnl_nChw16c;
    if (v && !strcmp(v, "nhwc")) return dnnl_nhwc;
    if (v && !strcmp(v, "nchw")) return dnnl_nchw;
    if (v && !strcmp(v, "any")) return dnnl_format_tag_any;
    if (bf16) return dnnl_format_tag_any;
    /* the channel block the CPU's direct kernels use: a block the ISA has no
     * kernel for (nChw16c on AVX2) selects oneDNN's reference convolution,
     * which is ~1000x slower */
    int block = pn__dnn_cpu_block();
    return block == 16 ? dnnl_nChw16c : block == 8 ? dnnl_nChw8c : dnnl_format_tag_any;
}

static pn_status plan_add_mem(pn__plan *p, const dnnl_memory_desc_t *md, int buf, void *handle,
                              pn_infer *e, dnnl_memory_t *out, pn_error *err)
{
    if (p->nmem == p->capmem) {
        int cap = p->capmem ? 2 * p->capmem : 64;
        pn__memref *m = realloc(p->mem, sizeof *m * (size_t)cap);
        if (!m) return pn_error_set(err, PN_E_NOMEM, "inference plan: out of memory");
        p->mem = m, p->capmem = cap;
    }
    PN_TRY(pn__mem_create_with(out, md, handle, e->dnn, err));
    p->mem[p->nmem++] = (pn__memref){*out, buf};
    if (buf >= 0) {
        size_t sz = dnnl_memory_desc_get_size(md);
        pn__ctx *c = p->ctx;
        if (c->buf[buf] == NULL) { /* base plan: sizing pass */
            if (sz > c->bufsz[buf]) c->bufsz[buf] = sz;
        } else if (sz > c->bufsz[buf]) {
            return pn_error_set(err, PN_E_BACKEND,
                                "inference plan for batch %d needs %zu bytes in buffer %d, "
                                "which has %zu",
                                p->n, sz, buf, c->bufsz[buf]);
        }
    }
    return PN_OK;
}

static pn_status plan_add_step(pn__plan *p, dnnl_primitive_desc_t pd, int nargs,
                               const dnnl_exec_arg_t *a, pn_error *err)
{
    if (p->nst == p->capst) {
        int cap = p->capst ? 2 * p->capst : 32;
        pn__step *s = realloc(p->st, sizeof *s * (size_t)cap);
        if (!s) return pn_error_set(err, PN_E_NOMEM, "inference plan: out of memory");
        p->st = s, p->capst = cap;
    }
    pn__step *s = &p->st[p->nst];
    PN__DNN(dnnl_primitive_create(&s->p, pd), "primitive");
    s->unit = -1;
    s->nargs = nargs;
    memcpy(s->a, a, sizeof *a * (size_t)nargs);
    p->nst++;
    return PN_OK;
}

/* A reorder src -> dst, multiplying by scale (int8 (de)quantization; 1:
 * none), as a step (or into *one when one != NULL). */
static pn_status reorder_step(pn_infer *e, pn__plan *p, dnnl_memory_t src, dnnl_memory_t dst,
                              float scale, pn__step *one, pn_error *err)
{
    const dnnl_memory_desc_t *smd, *dmd;
    dnnl_memory_get_memory_desc(src, &smd);
    dnnl_memory_get_memory_desc(dst, &dmd);
    dnnl_primitive_desc_t pd;
    dnnl_primitive_attr_t attr = NULL;
    if (scale != 1.0f) {
        PN__DNN(dnnl_primitive_attr_create(&attr), "reorder");
        dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale);
    }
    dnnl_status_t rs =
        dnnl_reorder_primitive_desc_create(&pd, smd, e->dnn->eng, dmd, e->dnn->eng, attr);
    if (attr) dnnl_primitive_attr_destroy(attr);
    PN__DNN(rs, "reorder");
    dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}};
    pn_status st;
    if (one) {
        dnnl_status_t s = dnnl_primitive_create(&one->p, pd);
        st = s == dnnl_success ? PN_OK : pn__dnn_fail(err, s, "reorder");
        one->nargs = 2;
        one->unit = -1;
        memcpy(one->a, a, sizeof a);
    } else {
        st = plan_add_step(p, pd, 2, a, err);
    }
    dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Run a one-off reorder between two memory objects now (weights upload). */
static pn_status reorder_now(pn_infer *e, dnnl_memory_t src, dnnl_memory_t dst, pn_error *err)
{
    const dnnl_memory_desc_t *smd, *dmd;
    void *sh, *dh;
    dnnl_memory_get_memory_desc(src, &smd);
    dnnl_memory_get_memory_desc(dst, &dmd);
    PN__DNN(dnnl_memory_get_data_handle(src, &sh), "weights reorder");
    PN__DNN(dnnl_memory_get_data_handle(dst, &dh), "weights reorder");
    return pn__reorder_now(e->dnn, smd, sh, dmd, dh, err);
}

/* The weights (or bias) memory this pd wants: the base copy when its layout
 * matches, else a plan-owned copy reordered from the folded float OIHW
 * weights while they are kept (user != NULL), else from the base copy. On
 * the base plan, the float weights are uploaded into the preferred layout.
 * (Winograd's weights format is opaque: oneDNN 2.6 has no reorder out of it,
 * and its parameters depend on the batch size, so the engine keeps the
 * float copies for plans of other batch sizes.) */
static pn_status weights_for(pn_infer *e, pn__plan *p, dnnl_memory_t *base, const float *user,
                             const dnnl_memory_desc_t *user_md, const dnnl_memory_desc_t *want,
                             dnnl_memory_t *out, pn_error *err)
{
    if (!*base) {
        void *h;
        PN_TRY(pn__mem_create_with(base, want, DNNL_MEMORY_ALLOCATE, e->dnn, err));
        PN__DNN(dnnl_memory_get_data_handle(*base, &h), "weights memory");
        PN_TRY(pn__reorder_now(e->dnn, user_md, user, want, h, err));
    }
    const dnnl_memory_desc_t *have;
    dnnl_memory_get_memory_desc(*base, &have);
    if (dnnl_memory_desc_equal(have, want)) {
        *out = *base;
        return PN_OK;
    }
    PN_TRY(plan_add_mem(p, want, -1, DNNL_MEMORY_ALLOCATE, e, out, err));
    if (user) {
        void *h;
        PN__DNN(dnnl_memory_get_data_handle(*out, &h), "weights memory");
        return pn__reorder_now(e->dnn, user_md, user, want, h, err);
    }
    return reorder_now(e, *base, *out, err);
}

/* One conv (BN folded into weights + bias), optional sum and relu post-ops.
 * src (n, ic, h, w) -> dst (n, oc, oh, ow) in buffer dbuf; when dst_fixed is
 * given, dst is that existing memory (the residual, for sum), in buffer
 * fixed_buf, holding int8 tensor id_t. int8: weights s8 (per-channel scales in the output scales),
 * dst u8 after a ReLU, s8 without; the residual is read as its own type
 * (sum's data type) with the scale q_identity / q_dst. */
static pn_status add_conv(pn_infer *e, pn__plan *p, int i, dnnl_memory_t src, int dbuf,
                          dnnl_memory_t dst_fixed, int fixed_buf, int id_t, int sum, int relu,
                          dnnl_memory_t *dst_out, pn_error *err)
{
    const pn__iconv *ic = &e->net.conv[i];
    const pn__arch_unit *c = ic->u;
    pn__layer_mem *lm = &e->lm[i];
    dnnl_data_type_t dt = e->bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t wdt = e->int8 ? dnnl_s8 : dt;
    dnnl_data_type_t ddt = !e->int8 ? dt : relu ? dnnl_u8 : dnnl_s8;
    dnnl_data_type_t sum_dt = dnnl_data_type_undef;
    float sum_scale = 1.0f;
    const dnnl_memory_desc_t *smd;
    dnnl_memory_get_memory_desc(src, &smd);
    int64_t h = smd->dims[2], w = smd->dims[3];
    int64_t oh = (h + 2 * c->pad - c->k) / c->stride + 1;
    int64_t ow = (w + 2 * c->pad - c->k) / c->stride + 1;
    dnnl_memory_desc_t wmd = pn__dnn_md4(c->cout, c->cin, c->k, c->k, wdt, dnnl_format_tag_any);
    dnnl_memory_desc_t bmd;
    dnnl_dims_t bd = {c->cout};
    dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
    dnnl_memory_desc_t dmd;
    if (dst_fixed) {
        const dnnl_memory_desc_t *fmd;
        dnnl_memory_get_memory_desc(dst_fixed, &fmd);
        dmd = *fmd;
        if (e->int8) { /* same bytes, read as the identity's type, written as ddt */
            sum_dt = dmd.data_type;
            dmd.data_type = ddt;
            sum_scale = e->q[id_t] / e->q[1 + i];
        }
    } else {
        dmd = pn__dnn_md4(p->n, c->cout, oh, ow, ddt, act_tag(e));
    }
    dnnl_dims_t strides = {c->stride, c->stride}, pad = {c->pad, c->pad};
    dnnl_alg_kind_t alg = e->winograd && c->k == 3 && c->stride == 1 ? dnnl_convolution_winograd
                                                                       : dnnl_convolution_direct;
    dnnl_convolution_desc_t cd;
    PN__DNN(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, alg, smd, &wmd, &bmd,
                                               &dmd, strides, pad, pad),
            c->conv);
    dnnl_primitive_attr_t attr;
    dnnl_post_ops_t po;
    PN__DNN(dnnl_primitive_attr_create(&attr), c->conv);
    PN__DNN(dnnl_post_ops_create(&po), c->conv);
    if (e->int8) dnnl_primitive_attr_set_output_scales(attr, c->cout, 1 << 1, ic->os);
    if (sum && e->int8) dnnl_post_ops_append_sum_v2(po, sum_scale, sum_dt);
    else if (sum) dnnl_post_ops_append_sum(po, 1.0f);
    if (relu) dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_relu, 0.f, 0.f);
    dnnl_primitive_attr_set_post_ops(attr, po);
    dnnl_primitive_desc_t pd;
    dnnl_status_t s = dnnl_primitive_desc_create(&pd, &cd, attr, e->dnn->eng, NULL);
    dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    PN__DNN(s, c->conv);

    pn_status st = PN_OK;
    dnnl_memory_t wm = NULL, bm = NULL, dm = dst_fixed;
    if (dst_fixed && e->int8 && sum_dt != ddt) /* the identity's buffer, as the output type */
        st = plan_add_mem(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), fixed_buf,
                          NULL, e, &dm, err);
    dnnl_memory_desc_t uwmd = pn__dnn_md4(c->cout, c->cin, c->k, c->k, dnnl_f32, dnnl_oihw);
    if (st == PN_OK)
        st = weights_for(e, p, &lm->w, ic->w, &uwmd,
                         dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0), &wm, err);
    if (st == PN_OK)
        st = weights_for(e, p, &lm->b, ic->b, &bmd,
                         dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1), &bm, err);
    if (st == PN_OK && !dm)
        st = plan_add_mem(p, dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0), dbuf, NULL,
                          e, &dm, err);
    if (st == PN_OK) {
        /* the src layout is fixed by the previous layer; check it was kept */
        if (!dnnl_memory_desc_equal(smd, dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)))
            st = pn_error_set(err, PN_E_BACKEND, "oneDNN %s: the conv changed its input layout",
                              c->conv);
    }
    if (st == PN_OK) {
        dnnl_exec_arg_t a[4] = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wm},
                                {DNNL_ARG_BIAS, bm}, {DNNL_ARG_DST, dm}};
        st = plan_add_step(p, pd, 4, a, err);
        if (st == PN_OK) p->st[p->nst - 1].unit = i;
    }
    dnnl_primitive_desc_destroy(pd);
    if (st == PN_OK) *dst_out = dm;
    return st;
}

/* Pooling (max 3x3/2 pad 1, or global average): src -> new memory in dbuf. */
static pn_status add_pool(pn_infer *e, pn__plan *p, dnnl_memory_t src, int avg, int dbuf,
                          dnnl_memory_t *dst_out, pn_error *err)
{
    const dnnl_memory_desc_t *smd;
    dnnl_memory_get_memory_desc(src, &smd);
    dnnl_data_type_t dt = smd->data_type;
    int64_t c = smd->dims[1], h = smd->dims[2], w = smd->dims[3];
    int64_t oh = avg ? 1 : (h + 2 - 3) / 2 + 1, ow = avg ? 1 : (w + 2 - 3) / 2 + 1;
    dnnl_dims_t strides = {avg ? 1 : 2, avg ? 1 : 2}, kernel = {avg ? h : 3, avg ? w : 3};
    dnnl_dims_t dil = {0, 0}, pad = {avg ? 0 : 1, avg ? 0 : 1};
    dnnl_memory_desc_t dmd =
        pn__dnn_md4(p->n, c, oh, ow, dt, act_tag(e)); /* int8: nhwc, u8 or f32 */
    dnnl_pooling_v2_desc_t d;
    const char *what = avg ? "global average pool" : "maxpool";
    PN__DNN(dnnl_pooling_v2_forward_desc_init(&d, dnnl_forward_inference,
                                         avg ? dnnl_pooling_avg_exclude_padding : dnnl_pooling_max,
                                         smd, &dmd, strides, kernel, dil, pad, pad),
       what);
    dnnl_primitive_desc_t pd;
    PN__DNN(dnnl_primitive_desc_create(&pd, &d, NULL, e->dnn->eng, NULL), what);
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

void pn__plan_free(pn__plan *p)
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
pn_status pn__plan_build(pn_infer *e, pn__ctx *ctx, int n, pn__plan **out, pn_error *err)
{
    pn__plan *p = calloc(1, sizeof *p);
    if (!p) return pn_error_set(err, PN_E_NOMEM, "inference plan: out of memory");
    p->n = n;
    p->ctx = ctx;
    pn_status st = PN_OK;
    dnnl_data_type_t dt = e->bf16 ? dnnl_bf16 : dnnl_f32;
    const pn_infer_config *cfg = &e->cfg;
    pn_stage stop = cfg->stop;
    int base = ctx->buf[0] == NULL;

#define GO(x)                               \
    do {                                    \
        if (st == PN_OK) st = (x);          \
    } while (0)

    // input: x (n,3,H,W) f32 nchw, handle set per call
    dnnl_memory_desc_t umd = pn__dnn_md4(n, 3, cfg->height, cfg->width, dnnl_f32, dnnl_nchw);
    GO(plan_add_mem(p, &umd, -1, NULL, e, &p->in_user, err));

    // stem conv: decide the input layout the conv wants (3 channels: special case)
    dnnl_memory_t x = p->in_user;
    if (st == PN_OK) {
        int64_t oh = (cfg->height + 6 - 7) / 2 + 1, ow = (cfg->width + 6 - 7) / 2 + 1;
        dnnl_data_type_t sdt = e->int8 ? dnnl_s8 : dt;
        dnnl_memory_desc_t smd = pn__dnn_md4(n, 3, cfg->height, cfg->width, sdt, dnnl_format_tag_any);
        dnnl_memory_desc_t wmd = pn__dnn_md4(64, 3, 7, 7, sdt, dnnl_format_tag_any);
        dnnl_memory_desc_t dmd =
            pn__dnn_md4(n, 64, oh, ow, e->int8 ? dnnl_u8 : dt, act_tag(e)), bmd;
        dnnl_dims_t bd = {64}, s2 = {2, 2}, p3 = {3, 3};
        dnnl_memory_desc_init_by_tag(&bmd, 1, bd, dnnl_f32, dnnl_x);
        dnnl_convolution_desc_t cd;
        dnnl_primitive_desc_t pd = NULL;
        dnnl_status_t s = dnnl_convolution_forward_desc_init(
            &cd, dnnl_forward_inference, dnnl_convolution_direct, &smd, &wmd, &bmd, &dmd, s2, p3,
            p3);
        dnnl_primitive_attr_t attr = NULL;
        if (s == dnnl_success && e->int8) s = dnnl_primitive_attr_create(&attr);
        if (s == dnnl_success && e->int8)
            s = dnnl_primitive_attr_set_output_scales(attr, 64, 1 << 1, e->net.conv[0].os);
        if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &cd, attr, e->dnn->eng, NULL);
        if (attr) dnnl_primitive_attr_destroy(attr);
        if (s != dnnl_success)
            st = pn__dnn_fail(err, s, "conv1");
        if (st == PN_OK) {
            const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
            if (!dnnl_memory_desc_equal(want, &umd)) {
                GO(plan_add_mem(p, want, 1, NULL, e, &x, err));
                GO(reorder_step(e, p, p->in_user, x, e->int8 ? 1.0f / e->q[0] : 1.0f, NULL,
                                err));
            }
        }
        if (pd) dnnl_primitive_desc_destroy(pd);
    }
    // stem: conv1+bn1+relu -> buf 0 (n,64,H/2,W/2); maxpool -> buf 1 (n,64,H/4,W/4)
    dnnl_memory_t y = NULL;
    GO(add_conv(e, p, 0, x, 0, NULL, -1, 0, 0, 1, &y, err));
    GO(add_pool(e, p, y, 0, 1, &x, err));
    int cur = 1, xt = 1; /* xt: x's int8 tensor */
    dnnl_memory_t stage_out[PN_STAGE_COUNT] = {NULL};
    int stage_t[PN_STAGE_COUNT] = {0}; /* int8: the tensor each stage output holds, 0: f32 */
    stage_out[PN_STAGE_STEM] = x, stage_t[PN_STAGE_STEM] = 1;

    // blocks (pn__arch units conv1, conv2[, downsample]):
    // x (cur) -> t = relu(conv1 x) ; out = relu(conv2 t + identity)
    for (int i = 1; st == PN_OK && i < PN__ARCH_NCONV && pn__arch[i].block < e->net.nblocks;) {
        int blk = pn__arch[i].block, c1 = i, c2 = i + 1;
        int ds = i + 2 < PN__ARCH_NCONV && pn__arch[i + 2].role == PN__ROLE_DOWNSAMPLE ? i + 2 : -1;
        int tb = other_buf(cur, -1);
        dnnl_memory_t t = NULL, id = x;
        int idt = xt;
        GO(add_conv(e, p, c1, x, tb, NULL, -1, 0, 0, 1, &t, err));
        if (ds >= 0) {
            int db = other_buf(cur, tb);
            GO(add_conv(e, p, ds, x, db, NULL, -1, 0, 0, 0, &id, err));
            cur = db, idt = 1 + ds;
        }
        GO(add_conv(e, p, c2, t, -1, id, cur, idt, 1, 1, &x, err));
        xt = 1 + c2;
        if (blk % 2 == 1) stage_out[PN_STAGE_LAYER1 + blk / 2] = x, stage_t[PN_STAGE_LAYER1 + blk / 2] = xt;
        i += ds >= 0 ? 3 : 2;
    }
    if (e->int8 && st == PN_OK && (stop >= PN_STAGE_POOL || cfg->want_layer4)) {
        /* layer4 back to float32 (nhwc) for the average pool and the outputs */
        const int64_t *s = e->shp[PN_STAGE_LAYER4];
        dnnl_memory_desc_t fmd = pn__dnn_md4(n, s[0], s[1], s[2], dnnl_f32, dnnl_nhwc);
        dnnl_memory_t l4 = NULL;
        GO(plan_add_mem(p, &fmd, other_buf(cur, -1), NULL, e, &l4, err));
        GO(reorder_step(e, p, x, l4, e->q[xt], NULL, err));
        x = stage_out[PN_STAGE_LAYER4] = l4, stage_t[PN_STAGE_LAYER4] = 0;
    }
    if (stop >= PN_STAGE_POOL) GO(add_pool(e, p, x, 1, 3, &stage_out[PN_STAGE_POOL], err));

    // outputs: stop stage (LOGITS: the pooled features into ctx->pool_f32) and layer4
    pn_stage os = stop == PN_STAGE_LOGITS ? PN_STAGE_POOL : stop;
    if (st == PN_OK) {
        const int64_t *s = e->shp[os];
        dnnl_memory_desc_t omd = pn__dnn_md4(n, s[0], s[1], s[2], dnnl_f32, dnnl_nchw);
        GO(plan_add_mem(p, &omd, -1, NULL, e, &p->out_user, err));
        GO(reorder_step(e, p, stage_out[os], p->out_user,
                        e->int8 && stage_t[os] ? e->q[stage_t[os]] : 1.0f, &p->out_reorder, err));
    }
    if (st == PN_OK && cfg->want_layer4) {
        const int64_t *s = e->shp[PN_STAGE_LAYER4];
        dnnl_memory_desc_t omd = pn__dnn_md4(n, s[0], s[1], s[2], dnnl_f32, dnnl_nchw);
        GO(plan_add_mem(p, &omd, -1, NULL, e, &p->l4_user, err));
        GO(reorder_step(e, p, stage_out[PN_STAGE_LAYER4], p->l4_user, 1.0f, &p->l4_reorder, err));
    }
#undef GO
    if (st == PN_OK && base) { /* allocate the shared buffers now that sizes are known */
        for (int i = 0; i < PN_INFER_NBUF; i++) {
            size_t sz = (ctx->bufsz[i] + 63) / 64 * 64;
            ctx->bufsz[i] = sz ? sz : 64;
            ctx->buf[i] = aligned_alloc(64, ctx->bufsz[i]);
            if (!ctx->buf[i]) {
                st = pn_error_set(err, PN_E_NOMEM, "inference buffers: out of memory (%zu bytes)",
                                  ctx->bufsz[i]);
                break;
            }
        }
    }
    for (int i = 0; st == PN_OK && i < p->nmem; i++)
        if (p->mem[i].buf >= 0) {
            dnnl_status_t s = dnnl_memory_set_data_handle(p->mem[i].m, ctx->buf[p->mem[i].buf]);
            if (s != dnnl_success)
                st = pn__dnn_fail(err, s, "set handle");
        }
    if (st != PN_OK) {
        pn__plan_free(p);
        return st;
    }
    *out = p;
    return PN_OK;
}
