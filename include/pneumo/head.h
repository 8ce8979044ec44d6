/* pneumo: softmax for the classifier head. The head's linear layer,
 * cross-entropy and Adam are the engine's ops (pneumo/ops.h:
 * pn_linear_forward/backward, pn_cross_entropy, pn_adam_step). */
#ifndef PNEUMO_HEAD_H
#define PNEUMO_HEAD_H

#ifdef __cplusplus
extern "C" {
#endif

/* probs (N,C) = softmax(logits (N,C)) row by row (may alias). */
void pn_softmax(const float *logits, int n, int c, float *probs);

#ifdef __cplusplus
}
#endif
#endif
