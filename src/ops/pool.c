/* Max pooling (with workspace for the backward) and global average pooling
 * on oneDNN, and the plain-C references. */
#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "ops/dnn.h"

struct pn__pool {
    pn__dnn *d;
    int oh, ow, backward;
    pn__prim fwd, bwd;
    void *ws; /* max-pool argmax workspace (oneDNN format) */
    dnnl_memory_t m_x, m_y, m_dx, m_dy, m_ws;
};

void pn__pool_free(pn__pool *op)
{
    if (!op) return;
    pn__prim_free(&op->fwd);
    pn__prim_free(&op->bwd);
    dnnl_memory_t ms[] = {op->m_x, op->m_y, op->m_dx, op->m_dy, op->m_ws};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    free(op->ws);
    free(op);
}

void pn__pool_out_hw(const pn__pool *op, int *oh, int *ow)
{
    *oh = op->oh;
    *ow = op->ow;
}

static pn_status pool_create(pn__pool **out, pn__dnn *d, dnnl_alg_kind_t alg, int n, int c, int h,
                             int w, int k, int stride, int pad, pn__layout layout, int backward,
                             const char *name, pn_error *err)
{
    *out = NULL;
    if (n < 1 || c < 1 || h < 1 || w < 1 || k < 1 || stride < 1 || pad < 0 || 2 * pad > k ||
        h + 2 * pad < k || w + 2 * pad < k)
        return pn_error_set(err, PN_E_ARG, "%s: bad dims n=%d c=%d h=%d w=%d k=%d stride=%d pad=%d",
                            name, n, c, h, w, k, stride, pad);
    pn__pool *op = calloc(1, sizeof *op);
    if (!op) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", name);
    op->d = d;
    op->backward = backward;
    op->oh = (h + 2 * pad - k) / stride + 1;
    op->ow = (w + 2 * pad - k) / stride + 1;
    dnnl_memory_desc_t xmd = pn__dnn_act_md(d, layout, n, c, h, w);
    dnnl_memory_desc_t ymd = pn__dnn_act_md(d, layout, n, c, op->oh, op->ow);
    dnnl_dims_t st = {stride, stride}, ker = {k, k}, dil = {0, 0}, pd = {pad, pad};
    dnnl_pooling_v2_desc_t desc;
    pn_status rc = PN_OK;
    dnnl_status_t s = dnnl_pooling_v2_forward_desc_init(
        &desc, backward ? dnnl_forward_training : dnnl_forward_inference, alg, &xmd, &ymd, st, ker,
        dil, pd, pd);
    if (s != dnnl_success) { rc = pn__dnn_fail(err, s, name); goto fail; }
    if ((rc = pn__prim_create_serial(&op->fwd, &desc, NULL, d, name, err))) goto fail;
    if ((rc = pn__mem_create(&op->m_x, &xmd, d, err))) goto fail;
    if ((rc = pn__mem_create(&op->m_y, &ymd, d, err))) goto fail;
    if (backward) {
        s = dnnl_pooling_v2_backward_desc_init(&desc, alg, &xmd, &ymd, st, ker, dil, pd, pd);
        if (s != dnnl_success) { rc = pn__dnn_fail(err, s, name); goto fail; }
        if ((rc = pn__prim_create_serial(&op->bwd, &desc, op->fwd.pd, d, name, err))) goto fail;
        if ((rc = pn__mem_create(&op->m_dx, &xmd, d, err))) goto fail;
        if ((rc = pn__mem_create(&op->m_dy, &ymd, d, err))) goto fail;
        const dnnl_memory_desc_t *wmd =
            dnnl_primitive_desc_query_md(op->fwd.pd, dnnl_query_workspace_md, 0);
        size_t wbytes = wmd ? dnnl_memory_desc_get_size(wmd) : 0;
        if (wbytes) {
            op->ws = aligned_alloc(64, (wbytes + 63) / 64 * 64);
            if (!op->ws) { rc = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", name); goto fail; }
            if ((rc = pn__mem_create(&op->m_ws, wmd, d, err))) goto fail;
            pn__mem_bind(op->m_ws, op->ws);
        }
    }
    *out = op;
    return PN_OK;
fail:
    pn__pool_free(op);
    return rc;
}

pn_status pn__maxpool_create(pn__pool **op, pn__dnn *d, int n, int c, int h, int w, int k,
                            int stride, int pad, pn__layout layout, int backward, pn_error *err)
{
    return pool_create(op, d, dnnl_pooling_max, n, c, h, w, k, stride, pad, layout, backward,
                       "max pool", err);
}

pn_status pn__avgpool_global_create(pn__pool **op, pn__dnn *d, int n, int c, int h, int w,
                                   pn__layout layout, int backward, pn_error *err)
{
    if (h != w) /* the ops take square kernels; ResNet inputs here are square */
        return pn_error_set(err, PN_E_UNSUPPORTED, "global avg pool: non-square %dx%d input", h, w);
    return pool_create(op, d, dnnl_pooling_avg_exclude_padding, n, c, h, w, h, 1, 0, layout,
                       backward, "global avg pool", err);
}

pn_status pn__pool_forward(pn__pool *op, const float *x, float *y, pn_error *err)
{
    pn__mem_bind(op->m_x, x);
    pn__mem_bind(op->m_y, y);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, op->m_x}, {DNNL_ARG_DST, op->m_y},
                           {DNNL_ARG_WORKSPACE, op->m_ws}};
    return pn__prim_exec_serial(&op->fwd, op->d, op->m_ws ? 3 : 2, a, "pool forward", err);
}

pn_status pn__pool_backward(pn__pool *op, const float *dy, float *dx, pn_error *err)
{
    if (!op->backward)
        return pn_error_set(err, PN_E_ARG, "pool backward: op was created forward-only");
    pn__mem_bind(op->m_dy, dy);
    pn__mem_bind(op->m_dx, dx);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_DIFF_DST, op->m_dy}, {DNNL_ARG_DIFF_SRC, op->m_dx},
                           {DNNL_ARG_WORKSPACE, op->m_ws}};
    return pn__prim_exec_serial(&op->bwd, op->d, op->m_ws ? 3 : 2, a, "pool backward", err);
}

/* ---- plain-C references (NCHW) ------------------------------------------- */

void pn__maxpool_forward_ref(int n, int c, int h, int w, int k, int stride, int pad,
                            const float *x, float *y, int *argmax)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    for (size_t p = 0; p < (size_t)n * c; p++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float best = -FLT_MAX;
                int arg = -1;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int hi = i * stride - pad + ki, wj = j * stride - pad + kj;
                        if (hi < 0 || hi >= h || wj < 0 || wj >= w) continue;
                        float v = x[p * h * w + (size_t)hi * w + wj];
                        if (arg < 0 || v > best) best = v, arg = hi * w + wj;
                    }
                y[p * oh * ow + (size_t)i * ow + j] = best;
                argmax[p * oh * ow + (size_t)i * ow + j] = arg;
            }
}

void pn__maxpool_backward_ref(int n, int c, int h, int w, int k, int stride, int pad,
                             const int *argmax, const float *dy, float *dx)
{
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    memset(dx, 0, (size_t)n * c * h * w * sizeof *dx);
    for (size_t p = 0; p < (size_t)n * c; p++)
        for (size_t q = 0; q < (size_t)oh * ow; q++) dx[p * h * w + argmax[p * oh * ow + q]] += dy[p * oh * ow + q];
}

void pn__avgpool_global_forward_ref(int n, int c, int hw, const float *x, float *y)
{
    for (size_t p = 0; p < (size_t)n * c; p++) {
        double s = 0;
        for (int j = 0; j < hw; j++) s += x[p * hw + j];
        y[p] = (float)(s / hw);
    }
}

void pn__avgpool_global_backward_ref(int n, int c, int hw, const float *dy, float *dx)
{
    for (size_t p = 0; p < (size_t)n * c; p++)
        for (int j = 0; j < hw; j++) dx[p * hw + j] = (float)((double)dy[p] / hw);
}
