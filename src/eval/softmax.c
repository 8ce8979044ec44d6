/* Softmax of logits, row by row (max-subtracted, float), and the number of
 * correct argmax predictions. */
#include <math.h>
#include <stddef.h>

#include "pneumo/eval.h"

void pn_softmax(const float *logits, int n, int c, float *probs)
{
    // logits (N,C) -> probs (N,C)
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        float *p = probs + (size_t)i * c;
        float mx = z[0];
        for (int k = 1; k < c; k++) mx = z[k] > mx ? z[k] : mx;
        float s = 0.0f;
        for (int k = 0; k < c; k++) {
            p[k] = expf(z[k] - mx);
            s += p[k];
        }
        for (int k = 0; k < c; k++) p[k] /= s;
    }
}

size_t pn_count_correct(const float *logits, const int *labels, int n, int c)
{
    // logits (N,C), labels (N)
    size_t correct = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * c;
        int am = 0;
        for (int k = 1; k < c; k++)
            if (z[k] > z[am]) am = k;
        correct += am == labels[i];
    }
    return correct;
}
