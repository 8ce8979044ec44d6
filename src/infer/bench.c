/* Timing the inference engine: the measurement behind `pneumo bench`. */
#include <stdlib.h>

#include "pneumo/infer.h"
#include "pneumo/util.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

pn_status pn_infer_bench(const pn_statedict *sd, const pn_infer_config *cfg, int iters,
                         double *img_per_s, int *is_bf16, pn_error *err)
{
    if (!sd || !cfg || !img_per_s || iters < 1 || iters > 100000)
        return pn_error_set(err, PN_E_ARG, "benchmark: bad arguments (iters %d)", iters);
    pn_infer *e;
    pn_status st = pn_infer_create(&e, sd, cfg, err);
    if (st != PN_OK) return st;
    int n = cfg->max_batch;
    size_t in = (size_t)n * 3 * cfg->height * cfg->width;
    int64_t chw[3];
    size_t per = pn_infer_stage_shape(e, cfg->stop, chw);
    int64_t shape[4] = {n, 3, cfg->height, cfg->width};
    float *x = malloc(sizeof(float) * in), *out = malloc(sizeof(float) * per * n);
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!x || !out || !t) st = pn_error_set(err, PN_E_NOMEM, "benchmark: out of memory");
    if (st == PN_OK) {
        pn_synthetic_fill("input_bench", 4, shape, x, in);
        st = pn_infer_run(e, x, n, out, NULL, err); /* warm-up */
    }
    for (int i = 0; st == PN_OK && i < iters; i++) {
        double t0 = pn_now();
        st = pn_infer_run(e, x, n, out, NULL, err);
        t[i] = pn_now() - t0;
    }
    if (st == PN_OK) {
        qsort(t, (size_t)iters, sizeof *t, cmp_double);
        double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
        *img_per_s = n / med;
        if (is_bf16) *is_bf16 = pn_infer_is_bf16(e);
    }
    free(x), free(out), free(t);
    pn_infer_free(e);
    return st;
}
