/* The linear layer in plain C (x W^T + b, double accumulation): the head
 * of the model, the head trainer and the inference engine. */
#include <stddef.h>

#include "ops/ops.h"

void pn__linear_forward(int n, int in, int out, const float *x, const float *w, const float *b,
                       float *y)
{
    for (int i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double acc = b ? b[o] : 0.0;
            for (int k = 0; k < in; k++) acc += (double)x[(size_t)i * in + k] * w[(size_t)o * in + k];
            y[(size_t)i * out + o] = (float)acc;
        }
}

// dy (N,O) -> dx (N,I) (optional), dw (O,I), db (O)
void pn__linear_backward(int n, int in, int out, const float *x, const float *w, const float *dy,
                        float *dx, float *dw, float *db)
{
    if (dx)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < in; k++) {
                double acc = 0;
                for (int o = 0; o < out; o++) acc += (double)dy[(size_t)i * out + o] * w[(size_t)o * in + k];
                dx[(size_t)i * in + k] = (float)acc;
            }
    for (int o = 0; o < out; o++) {
        double sb = 0;
        for (int i = 0; i < n; i++) sb += dy[(size_t)i * out + o];
        if (db) db[o] = (float)sb;
        if (!dw) continue;
        for (int k = 0; k < in; k++) {
            double acc = 0;
            for (int i = 0; i < n; i++) acc += (double)dy[(size_t)i * out + o] * x[(size_t)i * in + k];
            dw[(size_t)o * in + k] = (float)acc;
        }
    }
}

