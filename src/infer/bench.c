/* Timing the inference engine: the measurement behind `pneumo bench`. */
#include <stdlib.h>

#include "pneumo/infer.h"
#include "pneumo/util.h"

#if __has_include("pneumo/model.h")
#include "pneumo/model.h"
#define HAVE_MODEL 1
#endif

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

#ifdef HAVE_MODEL
pn_status pn_train_bench(const pn_statedict *sd, const char *freeze, int batch, int size,
                         int threads, int iters, double *img_per_s, pn_error *err)
{
    if (!sd || !freeze || !img_per_s || iters < 1 || iters > 100000 || batch < 1)
        return pn_error_set(err, PN_E_ARG, "training benchmark: bad arguments");
    pn_model_config mc = {.num_classes = 2, .max_batch = batch, .height = size, .width = size,
                          .threads = threads};
    if (pn_freeze_parse(freeze, &mc.freeze))
        return pn_error_set(err, PN_E_ARG, "training benchmark: unknown freeze level '%s'",
                            freeze);
    pn_model *m;
    pn_status st = pn_model_create(&m, &mc, err);
    if (st != PN_OK) return st;
    size_t in = (size_t)batch * 3 * size * size;
    int64_t shape[4] = {batch, 3, size, size};
    float *x = malloc(sizeof(float) * in);
    int *y = malloc(sizeof(int) * (size_t)batch);
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!x || !y || !t) st = pn_error_set(err, PN_E_NOMEM, "training benchmark: out of memory");
    if (st == PN_OK) st = pn_model_load(m, sd, 0, err);
    if (st == PN_OK) {
        pn_synthetic_fill("input_bench", 4, shape, x, in);
        for (int i = 0; i < batch; i++) y[i] = i % 2;
    }
    float loss;
    for (int i = -1; st == PN_OK && i < iters; i++) { /* i = -1: warm-up */
        double t0 = pn_now();
        st = pn_model_train_step(m, x, y, batch, NULL, 1e-4, &loss, NULL, err);
        if (i >= 0) t[i] = pn_now() - t0;
    }
    if (st == PN_OK) {
        qsort(t, (size_t)iters, sizeof *t, cmp_double);
        double med = iters % 2 ? t[iters / 2] : 0.5 * (t[iters / 2 - 1] + t[iters / 2]);
        *img_per_s = batch / med;
    }
    free(x), free(y), free(t);
    pn_model_free(m);
    return st;
}
#else
pn_status pn_train_bench(const pn_statedict *sd, const char *freeze, int batch, int size,
                         int threads, int iters, double *img_per_s, pn_error *err)
{
    (void)sd, (void)freeze, (void)batch, (void)size, (void)threads, (void)iters, (void)img_per_s;
    return pn_error_set(err, PN_E_UNSUPPORTED,
                        "training benchmark: libpneumo was built without the training engine "
                        "(include/pneumo/model.h)");
}
#endif
