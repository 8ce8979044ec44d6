/* pneumo: the classifier head trained on cached features — Linear(D, C),
 * log-softmax + NLL (cross-entropy) with optional class weights, and Adam,
 * each matching PyTorch 1.13 CPU (nn.Linear, nn.CrossEntropyLoss(weight),
 * torch.optim.Adam) up to float rounding.
 *
 * Dimension letters: N batch, D feature size (512), C classes.
 */
#ifndef PNEUMO_HEAD_H
#define PNEUMO_HEAD_H

#include <stddef.h>

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* logits (N,C) = x (N,D) @ w^T (C,D) + b (C) */
void pn_head_forward(const float *x, const float *w, const float *b, int n, int d, int c,
                     float *logits);
/* dw (C,D) = dlogits^T (C,N) @ x (N,D); db (C) = sum_n dlogits; both overwritten */
void pn_head_backward(const float *x, const float *dlogits, int n, int d, int c, float *dw,
                      float *db);

/* Cross-entropy of logits (N,C) against labels y (N) in [0,C), with class
 * weights cw (C) or NULL for all ones. Weighted mean as PyTorch:
 *   loss = sum_i cw[y_i] * (-log_softmax(z_i)[y_i]) / sum_i cw[y_i]
 * dlogits (N,C), if non-NULL, receives d loss / d logits:
 *   cw[y_i] * (softmax(z_i) - onehot(y_i)) / sum_i cw[y_i]
 * probs (N,C), if non-NULL, receives softmax(z). PN_E_NUMERIC when the loss
 * is not finite, PN_E_ARG for a label out of range. */
pn_status pn_cross_entropy(const float *logits, const int *y, const float *cw, int n, int c,
                           double *loss, float *dlogits, float *probs, pn_error *err);

/* Softmax of logits (N,C) into probs (N,C) (may alias). */
void pn_softmax(const float *logits, int n, int c, float *probs);

typedef struct pn_adam_cfg {
    double lr, beta1, beta2, eps, weight_decay; /* PyTorch defaults: 1e-3, .9, .999, 1e-8, 0 */
} pn_adam_cfg;

/* One Adam step (torch.optim.Adam, single-tensor path) on n parameters.
 * step is the step number after increment (1 for the first step).
 * m, v: first/second moment buffers (start zeroed). */
void pn_adam_update(const pn_adam_cfg *cfg, long step, float *param, const float *grad, float *m,
                    float *v, size_t n);

#ifdef __cplusplus
}
#endif
#endif
