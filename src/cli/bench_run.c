/* Timing the inference engine and the trainable model: the measurements
 * behind `pneumo bench` (cmd_bench.c), shared with bench/engine_train.c. */
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_run.h"
#include "infer/synthetic.h"
#include "pneumo/infer.h"
#include "pneumo/model.h"
#include "pneumo/util.h"

double pn__cpu_seconds(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru)) return 0;
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
           (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

static double median_sorted(double *t, int n)
{
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

pn_status pn__bench_infer(const pn_statedict *sd, const pn_infer_config *cfg, int iters,
                          pn__bench_result *r, pn_error *err)
{
    if (!sd || !cfg || !r || iters < 1 || iters > 100000)
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
        pn__synthetic_fill("input_bench", 4, shape, x, in);
        st = pn_infer_run(e, x, n, out, NULL, err); /* warm-up */
    }
    double c0 = pn__cpu_seconds();
    for (int i = 0; st == PN_OK && i < iters; i++) {
        double t0 = pn_now();
        st = pn_infer_run(e, x, n, out, NULL, err);
        t[i] = pn_now() - t0;
    }
    if (st == PN_OK) {
        r->cpu_s_per_img = (pn__cpu_seconds() - c0) / ((double)iters * n);
        qsort(t, (size_t)iters, sizeof *t, cmp_double);
        r->img_per_s = n / median_sorted(t, iters);
        r->bf16 = pn_infer_is_bf16(e);
        r->int8 = pn_infer_is_int8(e);
        r->winograd = pn_infer_is_winograd(e);
    }
    free(x), free(out), free(t);
    pn_infer_free(e);
    return st;
}

pn_status pn__bench_train(const pn_statedict *sd, const char *freeze, int batch, int size,
                          int threads, int iters, int bf16, pn__bench_result *r, pn_error *err)
{
    if (!sd || !freeze || !r || iters < 1 || iters > 100000 || batch < 1)
        return pn_error_set(err, PN_E_ARG, "training benchmark: bad arguments");
    pn_model_config mc = {.num_classes = 2, .max_batch = batch, .height = size, .width = size,
                          .threads = threads, .bf16 = bf16};
    if (pn_freeze_parse(freeze, &mc.freeze))
        return pn_error_set(err, PN_E_ARG, "training benchmark: unknown freeze level '%s'",
                            freeze);
    pn_model *m;
    pn_status st = pn_model_create(&m, &mc, err);
    if (st != PN_OK) return st;
    if (err) err->msg[0] = 0; /* a bf16 fallback notice: r->bf16 tells */
    size_t in = (size_t)batch * 3 * size * size;
    int64_t shape[4] = {batch, 3, size, size};
    float *x = malloc(sizeof(float) * in);
    int *y = malloc(sizeof(int) * (size_t)batch);
    double *t = malloc(sizeof(double) * (size_t)iters);
    if (!x || !y || !t) st = pn_error_set(err, PN_E_NOMEM, "training benchmark: out of memory");
    if (st == PN_OK) st = pn_model_load(m, sd, 0, err);
    if (st == PN_OK) {
        pn__synthetic_fill("input_bench", 4, shape, x, in);
        for (int i = 0; i < batch; i++) y[i] = i % 2;
    }
    float loss;
    if (st == PN_OK) /* warm-up */
        st = pn_model_train_step(m, x, y, batch, NULL, 1e-4, &loss, NULL, err);
    double c0 = pn__cpu_seconds();
    for (int i = 0; st == PN_OK && i < iters; i++) {
        double t0 = pn_now();
        st = pn_model_train_step(m, x, y, batch, NULL, 1e-4, &loss, NULL, err);
        t[i] = pn_now() - t0;
    }
    if (st == PN_OK) {
        r->cpu_s_per_img = (pn__cpu_seconds() - c0) / ((double)iters * batch);
        qsort(t, (size_t)iters, sizeof *t, cmp_double);
        r->img_per_s = batch / median_sorted(t, iters);
        r->bf16 = pn_model_is_bf16(m);
        r->int8 = r->winograd = 0;
    }
    free(x), free(y), free(t);
    pn_model_free(m);
    return st;
}

pn_status pn__bench_calibrate(pn_statedict *sd, const pn_infer_config *cfg, pn_error *err)
{
    pn_infer_config c = *cfg;
    c.bf16 = c.int8 = c.winograd = 0;
    c.stop = PN_STAGE_LOGITS;
    pn_infer *e;
    PN_TRY(pn_infer_create(&e, sd, &c, err));
    size_t in = (size_t)c.max_batch * 3 * c.height * c.width;
    int64_t shape[4] = {c.max_batch, 3, c.height, c.width};
    float *x = malloc(sizeof(float) * in);
    pn_status st = x ? PN_OK : pn_error_set(err, PN_E_NOMEM, "benchmark: out of memory");
    if (st == PN_OK) {
        pn__synthetic_fill("input_bench", 4, shape, x, in);
        st = pn_infer_calibrate(e, x, c.max_batch, NULL, err);
    }
    if (st == PN_OK) st = pn_infer_calibration_meta(e, sd, err);
    free(x);
    pn_infer_free(e);
    return st;
}

int pn__bench_busy_start(int seconds)
{
    pid_t pid = fork();
    if (pid != 0) return pid > 0 ? (int)pid : -1;
    alarm((unsigned)seconds); /* bounded even if the parent dies */
    volatile unsigned long spin = 0;
    for (;;) spin++;
}

void pn__bench_busy_stop(int pid)
{
    if (pid <= 0) return;
    kill((pid_t)pid, SIGKILL);
    waitpid((pid_t)pid, NULL, 0);
}
