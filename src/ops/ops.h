/* Internal (src/ops/): the ResNet-18 training ops, forward and backward
 * side by side, each next to its plain-C reference (conv.c bn.c pool.c
 * relu_add.c on oneDNN; linear.c loss.c optim.c in plain C; dnn.c the
 * oneDNN plumbing, dnn.h).
 *
 * Dimension letters: N batch, C/IC channels in, OC channels out, H/W height
 * and width in, OH/OW out, K kernel side, K classes for the head.
 *
 * Heavy ops (conv2d, batch norm, ReLU, max/avg pooling) are computed by
 * oneDNN 2.6. Each is an object created once for a fixed shape (primitives
 * are built at creation, never per call) and then run on caller buffers.
 * Activations use a layout chosen at creation:
 *   PN__LAYOUT_NCHW     plain NCHW, what callers and PyTorch use;
 *   PN__LAYOUT_BLOCKED  oneDNN's blocked nChw16c (AVX-512) / nChw8c (AVX2)
 *                      when C is a multiple of the block, else NCHW
 *                      (pn__dnn_block() tells the block; buffers have the
 *                      same size as NCHW because C is a multiple of it).
 * Weights are always given and returned in PyTorch's OIHW layout; ops
 * reorder them internally (once per pn__conv2d_set_weights).
 * Backward functions OVERWRITE their outputs (no accumulation).
 *
 * The head ops (linear, log-softmax + NLL, the optimisers) are plain C on raw float
 * pointers: they are tiny and are used standalone to train a 512->K head on
 * cached features.
 *
 * Every op also has a plain-C reference (*_ref, NCHW, double accumulation)
 * used by the tests.
 */
#ifndef PNEUMO_OPS_H
#define PNEUMO_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/model.h" /* pn_optim */
#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * oneDNN context (engine + stream). One per model; not thread-safe. */
typedef struct pn__dnn pn__dnn;
pn_status pn__dnn_create(pn__dnn **d, pn_error *err);
void pn__dnn_free(pn__dnn *d);
/* Channel block of PN__LAYOUT_BLOCKED on this CPU: 16, 8, or 1 (= NCHW). */
int pn__dnn_block(const pn__dnn *d);

/* Threads used by oneDNN (OpenMP, process-wide): 0 = all cores. */
void pn__set_threads(int threads);
int pn__get_threads(void);

typedef enum pn__layout { PN__LAYOUT_NCHW = 0, PN__LAYOUT_BLOCKED = 1 } pn__layout;

/* Layout conversion between NCHW (N,C,HW) and nChw<block>c (C % block == 0;
 * block 16, 8, or 1 = copy), by a oneDNN reorder. */
pn_status pn__dnn_to_blocked(pn__dnn *d, const float *src, float *dst, int n, int c, int hw,
                            int block, pn_error *err);
pn_status pn__dnn_to_nchw(pn__dnn *d, const float *src, float *dst, int n, int c, int hw,
                         int block, pn_error *err);

/* ---------------------------------------------------------------------------
 * conv2d, no bias, square kernel, same stride and padding on both axes.
 * x (N,IC,H,W), w (OC,IC,K,K) OIHW, y (N,OC,OH,OW), OH = (H+2P-K)/S + 1. */
typedef struct pn__conv2d_dims {
    int n, ic, h, w, oc, k, stride, pad;
} pn__conv2d_dims;
typedef struct pn__conv2d pn__conv2d;

/* backward != 0 also builds the backward-data and backward-weights
 * primitives (forward then runs in training mode). */
pn_status pn__conv2d_create(pn__conv2d **op, pn__dnn *d, const pn__conv2d_dims *dims,
                           pn__layout layout, int backward, pn_error *err);
void pn__conv2d_free(pn__conv2d *op);
void pn__conv2d_out_hw(const pn__conv2d_dims *dims, int *oh, int *ow);
/* Copy/reorder w (OC,IC,K,K) into the primitives' formats. Call again after
 * every weight update. */
pn_status pn__conv2d_set_weights(pn__conv2d *op, const float *w, pn_error *err);
pn_status pn__conv2d_forward(pn__conv2d *op, const float *x, float *y, pn_error *err);
/* dx (N,IC,H,W) and/or dw (OC,IC,K,K) may be NULL to skip them. */
pn_status pn__conv2d_backward(pn__conv2d *op, const float *x, const float *dy, float *dx,
                             float *dw, pn_error *err);

void pn__conv2d_forward_ref(const pn__conv2d_dims *dims, const float *x, const float *w, float *y);
void pn__conv2d_backward_ref(const pn__conv2d_dims *dims, const float *x, const float *w,
                            const float *dy, float *dx, float *dw);

/* ---------------------------------------------------------------------------
 * batch norm 2d, eps 1e-5 (PN__BN_EPS), affine.
 * x, y (N,C,H,W); gamma, beta, mean, var (C).
 * Training mode: mean/var are OUTPUTS, the batch mean and the biased
 * (population) variance used to normalize; update the running stats with
 * pn__bn2d_update_running(). Eval mode: mean/var are INPUTS (running stats). */
#define PN__BN_EPS 1e-5f
#define PN__BN_MOMENTUM 0.1f
typedef struct pn__bn2d pn__bn2d;
/* training != 0 builds the training-mode forward and the backward.
 * fuse_relu != 0: y = relu(bn(x)) in one pass (oneDNN fuse_norm_relu); the
 * training forward keeps a ReLU mask workspace inside the op, and the
 * backward then takes dy w.r.t. the ReLU output and refers to the last
 * training forward. */
pn_status pn__bn2d_create(pn__bn2d **op, pn__dnn *d, int n, int c, int h, int w, pn__layout layout,
                         int training, int fuse_relu, pn_error *err);
void pn__bn2d_free(pn__bn2d *op);
pn_status pn__bn2d_forward(pn__bn2d *op, int training, const float *x, const float *gamma,
                          const float *beta, float *mean, float *var, float *y, pn_error *err);
/* Backward of the training-mode forward (mean/var = the batch stats it
 * returned): dx (N,C,H,W), dgamma, dbeta (C); dx may be NULL to skip it. */
pn_status pn__bn2d_backward(pn__bn2d *op, const float *x, const float *dy, const float *gamma,
                           const float *mean, const float *var, float *dx, float *dgamma,
                           float *dbeta, pn_error *err);
/* The same synchronised over the MPI ranks (PyTorch's SyncBatchNorm; every
 * rank calls them for the same layer in the same order): the forward
 * normalises with the mean and biased variance of the job's whole batch
 * (*count = its N*H*W values per channel, for the running-stat update); the
 * backward's dx includes the terms through those stats, while dgamma/dbeta
 * are this rank's sums (the gradient allreduce adds them up). One process:
 * the same values as pn__bn2d_forward/backward, by another route. */
pn_status pn__bn2d_forward_sync(pn__bn2d *op, const float *x, const float *gamma,
                               const float *beta, float *mean, float *var, float *y,
                               size_t *count, pn_error *err);
pn_status pn__bn2d_backward_sync(pn__bn2d *op, const float *x, const float *dy, const float *gamma,
                                const float *mean, const float *var, size_t count, float *dx,
                                float *dgamma, float *dbeta, pn_error *err);
/* PyTorch's running-stat update: rm = (1-m) rm + m mean,
 * rv = (1-m) rv + m var * count/(count-1), count = N*H*W (> 1). */
void pn__bn2d_update_running(float *running_mean, float *running_var, const float *mean,
                            const float *var, int c, size_t count, float momentum);

/* training: mean/var out (batch stats); else mean/var in. */
void pn__bn2d_forward_ref(int n, int c, int hw, int training, const float *x, const float *gamma,
                         const float *beta, float *mean, float *var, float *y);
void pn__bn2d_backward_ref(int n, int c, int hw, const float *x, const float *dy,
                          const float *gamma, const float *mean, const float *var, float *dx,
                          float *dgamma, float *dbeta);

/* ---------------------------------------------------------------------------
 * ReLU on count contiguous floats (any layout). y = max(x, 0);
 * dx = dy where x > 0 else 0. In-place (y == x, dx == dy) is allowed. */
typedef struct pn__relu pn__relu;
pn_status pn__relu_create(pn__relu **op, pn__dnn *d, size_t count, int backward, pn_error *err);
void pn__relu_free(pn__relu *op);
pn_status pn__relu_forward(pn__relu *op, const float *x, float *y, pn_error *err);
pn_status pn__relu_backward(pn__relu *op, const float *x, const float *dy, float *dx,
                           pn_error *err);
void pn__relu_forward_ref(size_t count, const float *x, float *y);
void pn__relu_backward_ref(size_t count, const float *x, const float *dy, float *dx);

/* ---------------------------------------------------------------------------
 * Pooling. Max: K x K window, stride S, padding P acting as -inf,
 * OH = (H+2P-K)/S + 1 (ceil_mode off); the forward keeps a workspace (the
 * argmax) inside the op for the backward, so backward refers to the last
 * forward. Global average: (N,C,H,W) -> (N,C,1,1), which has the same bytes
 * in every layout. */
typedef struct pn__pool pn__pool;
pn_status pn__maxpool_create(pn__pool **op, pn__dnn *d, int n, int c, int h, int w, int k,
                            int stride, int pad, pn__layout layout, int backward, pn_error *err);
pn_status pn__avgpool_global_create(pn__pool **op, pn__dnn *d, int n, int c, int h, int w,
                                   pn__layout layout, int backward, pn_error *err);
void pn__pool_free(pn__pool *op);
void pn__pool_out_hw(const pn__pool *op, int *oh, int *ow);
pn_status pn__pool_forward(pn__pool *op, const float *x, float *y, pn_error *err);
pn_status pn__pool_backward(pn__pool *op, const float *dy, float *dx, pn_error *err);

/* Reference max pool (first maximum wins, like PyTorch); argmax (N,C,OH,OW)
 * gets the flat h*W+w index of the winner. */
void pn__maxpool_forward_ref(int n, int c, int h, int w, int k, int stride, int pad,
                            const float *x, float *y, int *argmax);
void pn__maxpool_backward_ref(int n, int c, int h, int w, int k, int stride, int pad,
                             const int *argmax, const float *dy, float *dx);
void pn__avgpool_global_forward_ref(int n, int c, int hw, const float *x, float *y);
void pn__avgpool_global_backward_ref(int n, int c, int hw, const float *dy, float *dx);

/* ---------------------------------------------------------------------------
 * Residual add: y = a + b (count floats, any layout; y may alias a or b). */
void pn__add_forward(size_t count, const float *a, const float *b, float *y);
/* Backward of y = a + b w.r.t. one input when the other path's gradient
 * is also present: d = d1 + d2. */
void pn__add_backward(size_t count, const float *d1, const float *d2, float *d);

/* Residual add + ReLU in one oneDNN pass (binary add with a ReLU post-op):
 * y = max(a + b, 0) on count floats (any layout). The backward needs only y:
 * d(a+b) = dy where y > 0 else 0 (ReLU backward from the output). */
typedef struct pn__addrelu pn__addrelu;
pn_status pn__addrelu_create(pn__addrelu **op, pn__dnn *d, size_t count, int backward,
                            pn_error *err);
void pn__addrelu_free(pn__addrelu *op);
pn_status pn__addrelu_forward(pn__addrelu *op, const float *a, const float *b, float *y,
                             pn_error *err);
pn_status pn__addrelu_backward(pn__addrelu *op, const float *y, const float *dy, float *dsum,
                              pn_error *err);

/* ---------------------------------------------------------------------------
 * Head ops, plain C on raw pointers (exact: dot products in double).
 * linear: x (N,I), w (O,I), b (O), y (N,O) = x W^T + b. */
void pn__linear_forward(int n, int in, int out, const float *x, const float *w, const float *b,
                       float *y);
/* dx (N,I) may be NULL; dw (O,I), db (O) are overwritten. */
void pn__linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db);

/* Cross-entropy = log-softmax + NLL, mean reduction, optional class weights
 * (K floats or NULL): loss = sum_i w[y_i] (-log p_i[y_i]) / sum_i w[y_i].
 * logits (N,K); labels in [0,K). dlogits (N,K) may be NULL: the gradient of
 * the loss. Errors: a label out of range, or zero total weight. */
pn_status pn__cross_entropy(int n, int k, const float *logits, const int *labels,
                           const float *class_weights, float *loss, float *dlogits,
                           pn_error *err);

/* One optimiser step as torch.optim 1.13 (single-tensor path) on count
 * floats: parameters p, gradient g (not changed), state s1/s2 (Adam/AdamW:
 * exp_avg, exp_avg_sq; SGD: s1 = momentum_buffer, s2 unused, may be NULL),
 * step = the 1-based step count (Adam's bias correction; SGD's first step
 * sets the buffer). Same operation order and float/double roundings as
 * PyTorch's CPU kernels (optim.c). */
void pn__optim_step(const pn_optim *o, double lr, long step, size_t count, float *p,
                    const float *g, float *s1, float *s2);

#ifdef __cplusplus
}
#endif
#endif
