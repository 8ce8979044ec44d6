/* pneumo: softmax and accuracy for the classifier head. The head's linear layer,
 * cross-entropy and Adam are the engine's ops (src/ops/ops.h:
 * pn__linear_forward/backward, pn__cross_entropy, pn__adam_step). */
#ifndef PNEUMO_HEAD_H
#define PNEUMO_HEAD_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* probs (N,C) = softmax(logits (N,C)) row by row (may alias). */
void pn_softmax(const float *logits, int n, int c, float *probs);

/* How many rows of logits (N,C) have their argmax (the first maximum, as
 * torch.argmax) equal to labels (N). */
size_t pn_count_correct(const float *logits, const int *labels, int n, int c);

#ifdef __cplusplus
}
#endif
#endif
