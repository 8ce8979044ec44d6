/* batch norm 2d on oneDNN (training: batch stats; eval: running stats),
 * its backward, the synchronised (SyncBatchNorm) pair for data-parallel
 * training under MPI, PyTorch's running-stat update, and the plain-C
 * reference. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "ops/dnn.h"

struct pn__bn2d {
    pn__dnn *d;
    int n, c, h, w, training, fuse_relu;
    pn__prim fwd_train, fwd_eval, bwd;
    void *ws; /* ReLU mask of the last training forward (fuse_relu) */
    dnnl_memory_t m_ws;
    dnnl_memory_t m_x, m_y, m_mean, m_var, m_scale, m_shift, m_dy, m_dx, m_dscale, m_dshift;
    float *dx_scratch; /* diff_src when the caller does not want dx */
    /* synchronised BN (built on first use): forward/backward on given stats */
    dnnl_memory_desc_t xmd;
    unsigned flags;
    int blk; /* channel block of x: 1 (nchw), 8 or 16 */
    pn__prim fwd_gs, bwd_gs;
    double *sums; /* (2c + 1) */
    float *k;     /* (3c): the backward's k1, k2, mean */
};

void pn__bn2d_free(pn__bn2d *op)
{
    if (!op) return;
    pn__prim_free(&op->fwd_train);
    pn__prim_free(&op->fwd_eval);
    pn__prim_free(&op->bwd);
    pn__prim_free(&op->fwd_gs);
    pn__prim_free(&op->bwd_gs);
    free(op->sums);
    free(op->k);
    dnnl_memory_t ms[] = {op->m_x,  op->m_y,  op->m_mean, op->m_var,    op->m_scale,
                          op->m_shift, op->m_dy, op->m_dx, op->m_dscale, op->m_dshift, op->m_ws};
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++)
        if (ms[i]) dnnl_memory_destroy(ms[i]);
    free(op->dx_scratch);
    free(op->ws);
    free(op);
}

pn_status pn__bn2d_create(pn__bn2d **out, pn__dnn *d, int n, int c, int h, int w, pn__layout layout,
                         int training, int fuse_relu, pn_error *err)
{
    *out = NULL;
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return pn_error_set(err, PN_E_ARG, "batch norm: bad dims n=%d c=%d h=%d w=%d", n, c, h, w);
    pn__bn2d *op = calloc(1, sizeof *op);
    if (!op) return pn_error_set(err, PN_E_NOMEM, "batch norm: out of memory");
    op->d = d;
    op->n = n, op->c = c, op->h = h, op->w = w, op->training = training;
    op->fuse_relu = fuse_relu;
    dnnl_memory_desc_t xmd = pn__dnn_act_md(d, layout, n, c, h, w), cmd = pn__dnn_md_1d((size_t)c);
    dnnl_batch_normalization_desc_t bd;
    unsigned flags = dnnl_use_scale | dnnl_use_shift | (fuse_relu ? dnnl_fuse_norm_relu : 0u);
    op->xmd = xmd;
    op->flags = flags;
    op->blk = layout == PN__LAYOUT_BLOCKED && d->block > 1 && c % d->block == 0 ? d->block : 1;
    pn_status st = PN_OK;
    dnnl_status_t s;
    s = dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_inference, &xmd, PN__BN_EPS,
                                                   flags | dnnl_use_global_stats);
    if (s != dnnl_success) { st = pn__dnn_fail(err, s, "batch norm eval descriptor"); goto fail; }
    if ((st = pn__prim_create_serial(&op->fwd_eval, &bd, NULL, d, "batch norm eval forward",
                                    err)))
        goto fail;
    if (training) {
        s = dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &xmd,
                                                       PN__BN_EPS, flags);
        if (s != dnnl_success) { st = pn__dnn_fail(err, s, "batch norm training descriptor"); goto fail; }
        if ((st = pn__prim_create_serial(&op->fwd_train, &bd, NULL, d,
                                        "batch norm training forward", err)))
            goto fail;
        s = dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &xmd, &xmd,
                                                        PN__BN_EPS, flags);
        if (s != dnnl_success) { st = pn__dnn_fail(err, s, "batch norm backward descriptor"); goto fail; }
        if ((st = pn__prim_create_serial(&op->bwd, &bd, op->fwd_train.pd, d, "batch norm backward",
                                        err)))
            goto fail;
        const dnnl_memory_desc_t *wmd =
            dnnl_primitive_desc_query_md(op->fwd_train.pd, dnnl_query_workspace_md, 0);
        size_t wbytes = wmd ? dnnl_memory_desc_get_size(wmd) : 0;
        if (wbytes) {
            op->ws = aligned_alloc(64, (wbytes + 63) / 64 * 64);
            if (!op->ws) { st = pn_error_set(err, PN_E_NOMEM, "batch norm: out of memory"); goto fail; }
            if ((st = pn__mem_create(&op->m_ws, wmd, d, err))) goto fail;
            pn__mem_bind(op->m_ws, op->ws);
        }
        op->dx_scratch = aligned_alloc(64, ((size_t)n * c * h * w * sizeof(float) + 63) / 64 * 64);
        if (!op->dx_scratch) { st = pn_error_set(err, PN_E_NOMEM, "batch norm: out of memory"); goto fail; }
    }
    dnnl_memory_t *xs[] = {&op->m_x, &op->m_y, &op->m_dy, &op->m_dx};
    for (size_t i = 0; i < 4; i++)
        if ((st = pn__mem_create(xs[i], &xmd, d, err))) goto fail;
    dnnl_memory_t *cs[] = {&op->m_mean, &op->m_var, &op->m_scale, &op->m_shift, &op->m_dscale,
                           &op->m_dshift};
    for (size_t i = 0; i < 6; i++)
        if ((st = pn__mem_create(cs[i], &cmd, d, err))) goto fail;
    *out = op;
    return PN_OK;
fail:
    pn__bn2d_free(op);
    return st;
}

/* The forward's arguments, bound to the caller's arrays (the workspace is
 * the 7th, passed only when the op has one). */
static void fwd_args(pn__bn2d *op, const float *x, const float *gamma, const float *beta,
                     float *mean, float *var, float *y, dnnl_exec_arg_t a[7])
{
    pn__mem_bind(op->m_x, x);
    pn__mem_bind(op->m_y, y);
    pn__mem_bind(op->m_mean, mean);
    pn__mem_bind(op->m_var, var);
    pn__mem_bind(op->m_scale, gamma);
    pn__mem_bind(op->m_shift, beta);
    const dnnl_exec_arg_t v[7] = {{DNNL_ARG_SRC, op->m_x},       {DNNL_ARG_MEAN, op->m_mean},
                                  {DNNL_ARG_VARIANCE, op->m_var}, {DNNL_ARG_SCALE, op->m_scale},
                                  {DNNL_ARG_SHIFT, op->m_shift},  {DNNL_ARG_DST, op->m_y},
                                  {DNNL_ARG_WORKSPACE, op->m_ws}};
    memcpy(a, v, sizeof v);
}

/* The backward's arguments (the workspace is the 10th, as above). */
static void bwd_args(pn__bn2d *op, const float *x, const float *dy, const float *gamma,
                     const float *mean, const float *var, float *dx, float *dgamma, float *dbeta,
                     dnnl_exec_arg_t a[10])
{
    pn__mem_bind(op->m_x, x);
    pn__mem_bind(op->m_dy, dy);
    pn__mem_bind(op->m_mean, mean);
    pn__mem_bind(op->m_var, var);
    pn__mem_bind(op->m_scale, gamma);
    pn__mem_bind(op->m_dx, dx);
    pn__mem_bind(op->m_dscale, dgamma);
    pn__mem_bind(op->m_dshift, dbeta);
    /* oneDNN 2.6 wants SHIFT bound too when use_shift is set (not read) */
    pn__mem_bind(op->m_shift, dbeta);
    const dnnl_exec_arg_t v[10] = {
        {DNNL_ARG_SRC, op->m_x},           {DNNL_ARG_MEAN, op->m_mean},
        {DNNL_ARG_VARIANCE, op->m_var},      {DNNL_ARG_DIFF_DST, op->m_dy},
        {DNNL_ARG_SCALE, op->m_scale},       {DNNL_ARG_SHIFT, op->m_shift},
        {DNNL_ARG_DIFF_SRC, op->m_dx},       {DNNL_ARG_DIFF_SCALE, op->m_dscale},
        {DNNL_ARG_DIFF_SHIFT, op->m_dshift}, {DNNL_ARG_WORKSPACE, op->m_ws}};
    memcpy(a, v, sizeof v);
}

pn_status pn__bn2d_forward(pn__bn2d *op, int training, const float *x, const float *gamma,
                          const float *beta, float *mean, float *var, float *y, pn_error *err)
{
    if (training && !op->training)
        return pn_error_set(err, PN_E_ARG, "batch norm: training forward on an eval-only op");
    dnnl_exec_arg_t a[7];
    fwd_args(op, x, gamma, beta, mean, var, y, a);
    /* single-threaded: see pn__prim_exec_serial */
    if (!training)
        return pn__prim_exec_serial(&op->fwd_eval, op->d, 6, a, "batch norm eval forward", err);
    return pn__prim_exec_serial(&op->fwd_train, op->d, op->m_ws ? 7 : 6, a,
                               "batch norm training forward", err);
}

pn_status pn__bn2d_backward(pn__bn2d *op, const float *x, const float *dy, const float *gamma,
                           const float *mean, const float *var, float *dx, float *dgamma,
                           float *dbeta, pn_error *err)
{
    if (!op->training)
        return pn_error_set(err, PN_E_ARG, "batch norm backward: op was created eval-only");
    dnnl_exec_arg_t a[10];
    bwd_args(op, x, dy, gamma, mean, var, dx ? dx : op->dx_scratch, dgamma, dbeta, a);
    return pn__prim_exec_serial(&op->bwd, op->d, op->m_ws ? 10 : 9, a, "batch norm backward",
                               err);
}

/* ---- synchronised across MPI ranks (SyncBatchNorm) ------------------------ */

/* Built on first use; each piece once, so a call after a failed one does not
 * find a half-built set taken for whole. */
static pn_status sync_prims(pn__bn2d *op, pn_error *err)
{
    if (op->bwd_gs.p) return PN_OK;
    if (!op->sums) op->sums = malloc((2 * (size_t)op->c + 1) * sizeof *op->sums);
    if (!op->k) op->k = malloc(3 * (size_t)op->c * sizeof *op->k);
    if (!op->sums || !op->k) return pn_error_set(err, PN_E_NOMEM, "batch norm: out of memory");
    dnnl_batch_normalization_desc_t bd;
    unsigned f = op->flags | dnnl_use_global_stats;
    if (!op->fwd_gs.p) {
        PN__DNN(dnnl_batch_normalization_forward_desc_init(&bd, dnnl_forward_training, &op->xmd,
                                                           PN__BN_EPS, f),
                "synchronised batch norm forward descriptor");
        PN_TRY(pn__prim_create_serial(&op->fwd_gs, &bd, NULL, op->d,
                                     "synchronised batch norm forward", err));
    }
    const dnnl_memory_desc_t *wmd =
        dnnl_primitive_desc_query_md(op->fwd_gs.pd, dnnl_query_workspace_md, 0);
    size_t wbytes = wmd ? dnnl_memory_desc_get_size(wmd) : 0;
    if (wbytes && (!op->m_ws || wbytes > dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(
                                              op->fwd_train.pd, dnnl_query_workspace_md, 0))))
        return pn_error_set(err, PN_E_BACKEND, "synchronised batch norm: workspace mismatch");
    PN__DNN(dnnl_batch_normalization_backward_desc_init(&bd, dnnl_backward, &op->xmd, &op->xmd,
                                                        PN__BN_EPS, f),
            "synchronised batch norm backward descriptor");
    return pn__prim_create_serial(&op->bwd_gs, &bd, op->fwd_gs.pd, op->d,
                                 "synchronised batch norm backward", err);
}

pn_status pn__bn2d_forward_sync(pn__bn2d *op, const float *x, const float *gamma,
                               const float *beta, float *mean, float *var, float *y,
                               size_t *count, pn_error *err)
{
    PN_TRY(sync_prims(op, err));
    /* this rank's batch stats, then the job's: sum n_r mean_r, sum n_r E_r[x^2], sum n_r */
    PN_TRY(pn__bn2d_forward(op, 1, x, gamma, beta, mean, var, y, err));
    const int C = op->c;
    const double nl = (double)op->n * op->h * op->w;
    double *s = op->sums;
    for (int c = 0; c < C; c++) {
        s[c] = nl * mean[c];
        s[C + c] = nl * ((double)var[c] + (double)mean[c] * mean[c]);
    }
    s[2 * C] = nl;
    PN_TRY(pn__dist_allreduce_f64(s, 2 * (size_t)C + 1, err));
    const double N = s[2 * C];
    for (int c = 0; c < C; c++) {
        double mu = s[c] / N, v = s[C + c] / N - mu * mu;
        mean[c] = (float)mu;
        var[c] = (float)(v > 0 ? v : 0);
    }
    *count = (size_t)N;
    dnnl_exec_arg_t a[7];
    fwd_args(op, x, gamma, beta, mean, var, y, a);
    return pn__prim_exec_serial(&op->fwd_gs, op->d, op->m_ws ? 7 : 6, a,
                               "synchronised batch norm forward", err);
}

pn_status pn__bn2d_backward_sync(pn__bn2d *op, const float *x, const float *dy, const float *gamma,
                                const float *mean, const float *var, size_t count, float *dx,
                                float *dgamma, float *dbeta, pn_error *err)
{
    PN_TRY(sync_prims(op, err));
    float *out = dx ? dx : op->dx_scratch;
    dnnl_exec_arg_t a[10];
    bwd_args(op, x, dy, gamma, mean, var, out, dgamma, dbeta, a);
    /* fixed stats: dx = gamma inv dy', and this rank's sums of dy' and dy' xhat */
    PN_TRY(pn__prim_exec_serial(&op->bwd_gs, op->d, op->m_ws ? 10 : 9, a,
                               "synchronised batch norm backward", err));
    if (!dx) return PN_OK;
    /* the terms through the job's mean and variance:
     * dx -= gamma inv / N (sum dy' + xhat sum dy' xhat), sums over every rank */
    const int C = op->c, blk = op->blk;
    const size_t HW = (size_t)op->h * op->w;
    double *s = op->sums;
    for (int c = 0; c < C; c++) s[c] = dgamma[c], s[C + c] = dbeta[c];
    PN_TRY(pn__dist_allreduce_f64(s, 2 * (size_t)C, err));
    float *k1 = op->k, *k2 = k1 + C, *mu = k1 + 2 * C;
    for (int c = 0; c < C; c++) { /* dx -= k1 + k2 (x - mean) */
        double inv = 1.0 / sqrt((double)var[c] + (double)PN__BN_EPS);
        double g = (double)gamma[c] * inv / (double)count;
        k1[c] = (float)(g * s[C + c]);
        k2[c] = (float)(g * s[c] * inv);
        mu[c] = mean[c];
    }
    for (int n = 0; n < op->n; n++)
        for (int cb = 0; cb < C / blk; cb++) {
            size_t base = ((size_t)n * (size_t)(C / blk) + (size_t)cb) * HW * (size_t)blk;
            for (size_t q = 0; q < HW; q++)
                for (int ci = 0; ci < blk; ci++) {
                    size_t k = base + q * (size_t)blk + (size_t)ci;
                    int c = cb * blk + ci;
                    out[k] -= k1[c] + k2[c] * (x[k] - mu[c]);
                }
        }
    return PN_OK;
}

void pn__bn2d_update_running(float *rm, float *rv, const float *mean, const float *var, int c,
                            size_t count, float momentum)
{
    /* PyTorch (batch_norm_cpu_update_stats_template) works in double:
     * rm = m*mean + (1-m)*rm; rv = m*var*n/(n-1) + (1-m)*rv */
    double mo = momentum, corr = (double)count / (double)(count - 1);
    for (int i = 0; i < c; i++) {
        rm[i] = (float)(mo * mean[i] + (1.0 - mo) * rm[i]);
        rv[i] = (float)(mo * ((double)var[i] * corr) + (1.0 - mo) * rv[i]);
    }
}

/* ---- plain-C reference (NCHW, double) ------------------------------------ */

void pn__bn2d_forward_ref(int n, int c, int hw, int training, const float *x, const float *gamma,
                         const float *beta, float *mean, float *var, float *y)
{
    double cnt = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double mu, va;
        if (training) {
            double s = 0, s2 = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < hw; j++) s += x[((size_t)i * c + ch) * hw + j];
            mu = s / cnt;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < hw; j++) {
                    double t = x[((size_t)i * c + ch) * hw + j] - mu;
                    s2 += t * t;
                }
            va = s2 / cnt;
            mean[ch] = (float)mu;
            var[ch] = (float)va;
        } else {
            mu = mean[ch];
            va = var[ch];
        }
        double inv = 1.0 / sqrt(va + (double)PN__BN_EPS);
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                size_t k = ((size_t)i * c + ch) * hw + j;
                y[k] = (float)((x[k] - mu) * inv * gamma[ch] + beta[ch]);
            }
    }
}

void pn__bn2d_backward_ref(int n, int c, int hw, const float *x, const float *dy,
                          const float *gamma, const float *mean, const float *var, float *dx,
                          float *dgamma, float *dbeta)
{
    double cnt = (double)n * hw;
    for (int ch = 0; ch < c; ch++) {
        double inv = 1.0 / sqrt((double)var[ch] + (double)PN__BN_EPS), sg = 0, sb = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                size_t k = ((size_t)i * c + ch) * hw + j;
                sb += dy[k];
                sg += dy[k] * (x[k] - mean[ch]) * inv;
            }
        dgamma[ch] = (float)sg;
        dbeta[ch] = (float)sb;
        if (!dx) continue;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                size_t k = ((size_t)i * c + ch) * hw + j;
                double xh = (x[k] - mean[ch]) * inv;
                dx[k] = (float)(gamma[ch] * inv / cnt * (cnt * dy[k] - sb - xh * sg));
            }
    }
}
