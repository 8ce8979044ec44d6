/* ReLU and the residual add (+ReLU) on oneDNN, with the plain-C
 * references. */
#include <stdlib.h>
#include <string.h>

#include "ops/dnn.h"

struct pn__relu {
    pn__dnn *d;
    int backward;
    pn__prim fwd, bwd;
    dnnl_memory_t m_x, m_y, m_dx, m_dy;
};

void pn__relu_free(pn__relu *op)
{
    if (!op) return;
    pn__prim_free(&op->fwd);
    pn__prim_free(&op->bwd);
    dnnl_memory_t ms[] = {op->m_x, op->m_y, op->m_dx, op->m_dy};
    for (size_t i = 0; i < 4; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    free(op);
}

pn_status pn__relu_create(pn__relu **out, pn__dnn *d, size_t count, int backward, pn_error *err)
{
    *out = NULL;
    if (count < 1) return pn_error_set(err, PN_E_ARG, "relu: empty tensor");
    pn__relu *op = calloc(1, sizeof *op);
    if (!op) return pn_error_set(err, PN_E_NOMEM, "relu: out of memory");
    op->d = d;
    op->backward = backward;
    /* ReLU is elementwise: a flat 1-D view serves every layout */
    dnnl_memory_desc_t md = pn__dnn_md_1d(count);
    dnnl_eltwise_desc_t ed;
    pn_status rc = PN_OK;
    dnnl_status_t s = dnnl_eltwise_forward_desc_init(
        &ed, backward ? dnnl_forward_training : dnnl_forward_inference, dnnl_eltwise_relu, &md,
        0.f, 0.f);
    if (s != dnnl_success) { rc = pn__dnn_fail(err, s, "relu forward descriptor"); goto fail; }
    if ((rc = pn__prim_create_serial(&op->fwd, &ed, NULL, d, "relu forward", err))) goto fail;
    if (backward) {
        s = dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu, &md, &md, 0.f, 0.f);
        if (s != dnnl_success) { rc = pn__dnn_fail(err, s, "relu backward descriptor"); goto fail; }
        if ((rc = pn__prim_create_serial(&op->bwd, &ed, op->fwd.pd, d, "relu backward", err))) goto fail;
    }
    dnnl_memory_t *ms[] = {&op->m_x, &op->m_y, &op->m_dx, &op->m_dy};
    for (size_t i = 0; i < 4; i++)
        if ((rc = pn__mem_create(ms[i], &md, d, err))) goto fail;
    *out = op;
    return PN_OK;
fail:
    pn__relu_free(op);
    return rc;
}

pn_status pn__relu_forward(pn__relu *op, const float *x, float *y, pn_error *err)
{
    pn__mem_bind(op->m_x, x);
    pn__mem_bind(op->m_y, y);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, op->m_x}, {DNNL_ARG_DST, op->m_y}};
    return pn__prim_exec_serial(&op->fwd, op->d, 2, a, "relu forward", err);
}

pn_status pn__relu_backward(pn__relu *op, const float *x, const float *dy, float *dx,
                           pn_error *err)
{
    if (!op->backward)
        return pn_error_set(err, PN_E_ARG, "relu backward: op was created forward-only");
    pn__mem_bind(op->m_x, x);
    pn__mem_bind(op->m_dy, dy);
    pn__mem_bind(op->m_dx, dx);
    dnnl_exec_arg_t a[] = {{DNNL_ARG_SRC, op->m_x}, {DNNL_ARG_DIFF_DST, op->m_dy},
                           {DNNL_ARG_DIFF_SRC, op->m_dx}};
    return pn__prim_exec_serial(&op->bwd, op->d, 3, a, "relu backward", err);
}

void pn__relu_forward_ref(size_t count, const float *x, float *y)
{
    for (size_t i = 0; i < count; i++) y[i] = x[i] > 0 ? x[i] : 0.f;
}

void pn__relu_backward_ref(size_t count, const float *x, const float *dy, float *dx)
{
    for (size_t i = 0; i < count; i++) dx[i] = x[i] > 0 ? dy[i] : 0.f;
}

void pn__add_forward(size_t count, const float *a, const float *b, float *y)
{
    for (size_t i = 0; i < count; i++) y[i] = a[i] + b[i];
}

void pn__add_backward(size_t count, const float *d1, const float *d2, float *d)
{
    for (size_t i = 0; i < count; i++) d[i] = d1[i] + d2[i];
}

/* ---- residual add + ReLU ----------------------------------------------- */

struct pn__addrelu {
    pn__dnn *d;
    int backward;
    pn__prim fwd, bwd;
    dnnl_memory_t m_a, m_b, m_y, m_dy, m_ds;
};

void pn__addrelu_free(pn__addrelu *op)
{
    if (!op) return;
    pn__prim_free(&op->fwd);
    pn__prim_free(&op->bwd);
    dnnl_memory_t ms[] = {op->m_a, op->m_b, op->m_y, op->m_dy, op->m_ds};
    for (size_t i = 0; i < 5; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    free(op);
}

pn_status pn__addrelu_create(pn__addrelu **out, pn__dnn *d, size_t count, int backward,
                            pn_error *err)
{
    *out = NULL;
    if (count < 1) return pn_error_set(err, PN_E_ARG, "add+relu: empty tensor");
    pn__addrelu *op = calloc(1, sizeof *op);
    if (!op) return pn_error_set(err, PN_E_NOMEM, "add+relu: out of memory");
    op->d = d;
    op->backward = backward;
    dnnl_memory_desc_t md = pn__dnn_md_1d(count);
    pn_status rc = PN_OK;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_binary_desc_t bd;
    dnnl_status_t s = dnnl_binary_desc_init(&bd, dnnl_binary_add, &md, &md, &md);
    if (s == dnnl_success) s = dnnl_primitive_attr_create(&attr);
    if (s == dnnl_success) s = dnnl_post_ops_create(&po);
    if (s == dnnl_success) s = dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f);
    if (s == dnnl_success) s = dnnl_primitive_attr_set_post_ops(attr, po);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&op->fwd.pd, &bd, attr, d->eng, NULL);
    if (s == dnnl_success) s = dnnl_primitive_create(&op->fwd.p, op->fwd.pd);
    if (po) dnnl_post_ops_destroy(po);
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (s != dnnl_success) { rc = pn__dnn_fail(err, s, "add+relu forward"); goto fail; }
    if (backward) {
        /* ReLU backward from the output; an eltwise forward pd is its hint */
        dnnl_eltwise_desc_t ed;
        pn__prim hint;
        s = dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_training,
                                           dnnl_eltwise_relu_use_dst_for_bwd, &md, 0.f, 0.f);
        if (s != dnnl_success) { rc = pn__dnn_fail(err, s, "add+relu backward"); goto fail; }
        memset(&hint, 0, sizeof hint);
        s = dnnl_primitive_desc_create(&hint.pd, &ed, NULL, d->eng, NULL);
        if (s != dnnl_success) { rc = pn__dnn_fail(err, s, "add+relu backward"); goto fail; }
        s = dnnl_eltwise_backward_desc_init(&ed, dnnl_eltwise_relu_use_dst_for_bwd, &md, &md,
                                            0.f, 0.f);
        if (s == dnnl_success) rc = pn__prim_create_serial(&op->bwd, &ed, hint.pd, d, "add+relu backward", err);
        else rc = pn__dnn_fail(err, s, "add+relu backward");
        pn__prim_free(&hint);
        if (rc) goto fail;
    }
    dnnl_memory_t *ms[] = {&op->m_a, &op->m_b, &op->m_y, &op->m_dy, &op->m_ds};
    for (size_t i = 0; i < 5; i++)
        if ((rc = pn__mem_create(ms[i], &md, d, err))) goto fail;
    *out = op;
    return PN_OK;
fail:
    pn__addrelu_free(op);
    return rc;
}

pn_status pn__addrelu_forward(pn__addrelu *op, const float *a, const float *b, float *y,
                             pn_error *err)
{
    pn__mem_bind(op->m_a, a);
    pn__mem_bind(op->m_b, b);
    pn__mem_bind(op->m_y, y);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_SRC_0, op->m_a}, {DNNL_ARG_SRC_1, op->m_b},
                              {DNNL_ARG_DST, op->m_y}};
    return pn__prim_exec_serial(&op->fwd, op->d, 3, args, "add+relu forward", err);
}

pn_status pn__addrelu_backward(pn__addrelu *op, const float *y, const float *dy, float *dsum,
                              pn_error *err)
{
    if (!op->backward)
        return pn_error_set(err, PN_E_ARG, "add+relu backward: op was created forward-only");
    pn__mem_bind(op->m_y, y);
    pn__mem_bind(op->m_dy, dy);
    pn__mem_bind(op->m_ds, dsum);
    dnnl_exec_arg_t args[] = {{DNNL_ARG_DST, op->m_y}, {DNNL_ARG_DIFF_DST, op->m_dy},
                              {DNNL_ARG_DIFF_SRC, op->m_ds}};
    return pn__prim_exec_serial(&op->bwd, op->d, 3, args, "add+relu backward", err);
}
