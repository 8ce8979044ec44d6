/* Cross-entropy in plain C: log-softmax + NLL with optional class weights,
 * mean reduction, and its gradient. */
#include <math.h>

#include "ops/ops.h"

// logits (N,K), labels (N), class_weights (K) or NULL, dlogits (N,K) or NULL
pn_status pn__cross_entropy(int n, int k, const float *logits, const int *labels,
                           const float *class_weights, float *loss, float *dlogits,
                           pn_error *err)
{
    if (n < 1 || k < 1) return pn_error_set(err, PN_E_ARG, "cross entropy: bad dims n=%d k=%d", n, k);
    double wsum = 0, lsum = 0;
    for (int i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= k)
            return pn_error_set(err, PN_E_ARG, "cross entropy: label %d of sample %d not in [0,%d)",
                                labels[i], i, k);
        wsum += class_weights ? class_weights[labels[i]] : 1.0;
    }
    if (!(wsum > 0) || !isfinite(wsum))
        return pn_error_set(err, PN_E_ARG, "cross entropy: total target weight %g is not positive",
                            wsum);
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        double mx = z[0], se = 0;
        for (int c = 1; c < k; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < k; c++) se += exp(z[c] - mx);
        double lse = mx + log(se);
        double wi = class_weights ? class_weights[labels[i]] : 1.0;
        lsum += wi * (lse - z[labels[i]]);
        if (dlogits)
            for (int c = 0; c < k; c++)
                dlogits[(size_t)i * k + c] =
                    (float)(wi / wsum * (exp(z[c] - lse) - (c == labels[i] ? 1.0 : 0.0)));
    }
    *loss = (float)(lsum / wsum);
    if (!isfinite(*loss))
        return pn_error_set(err, PN_E_NUMERIC, "cross entropy: loss is not finite");
    return PN_OK;
}

