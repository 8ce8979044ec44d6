/* Training-engine benchmark (built and run by bench/bench_train.sh):
 *   engine_train <freeze|eval> <batch> <threads> <iters> [size] [bf16]
 * (bf16: pn_model_config.bf16, the trainable convs in bfloat16; the line then
 * says "bf16" or, without CPU support, "bf16->fp32") prints one line "<what> batch=<N> threads=<T> <img/s> img/s <cpu> cpu-s/img":
 * wall-clock rate of the best timed iteration and the process CPU time
 * (user+sys, getrusage) per image averaged over the timed iterations (robust
 * on a loaded machine). Weights: the synthetic ResNet-18 of the tests and
 * `pneumo bench` (speed does not depend on them); the timer is
 * src/cli/bench_run.c's.
 * BENCH_DNN_VERBOSE=1: oneDNN's verbose exec lines for the timed iterations
 * only (to stdout; bench_train.sh sums them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cli/bench_run.h"
#include "infer/synthetic.h"
#include "pneumo/model.h"
#include "pneumo/util.h"

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s <fc|layer4|layer3|none|eval> <batch> <threads> <iters> [size] [bf16]\n", argv[0]);
        return 2;
    }
    int eval = !strcmp(argv[1], "eval");
    pn_freeze fr = PN_FREEZE_FC;
    if (!eval && pn_freeze_parse(argv[1], &fr)) {
        fprintf(stderr, "bad freeze level %s\n", argv[1]);
        return 2;
    }
    int n = atoi(argv[2]), threads = atoi(argv[3]), iters = atoi(argv[4]);
    int size = argc > 5 ? atoi(argv[5]) : 224;
    int bf16 = argc > 6 && !strcmp(argv[6], "bf16");
    pn_model_config cfg = {.num_classes = 2, .max_batch = n, .height = size, .width = size,
                           .freeze = fr, .threads = threads, .bf16 = bf16};
    pn_model *m = NULL;
    pn_error err = {0};
    if (pn_model_create(&m, &cfg, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    pn_statedict sd;
    if (pn__resnet18_synthetic(&sd, 2, &err) || pn_model_load(m, &sd, 0, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    pn_statedict_free(&sd);
    size_t nx = (size_t)n * 3 * size * size;
    float *x = malloc(nx * sizeof *x), *logits = malloc((size_t)n * 2 * sizeof *logits), loss;
    int *labels = malloc((size_t)n * sizeof *labels);
    for (size_t i = 0; i < nx; i++) x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (int i = 0; i < n; i++) labels[i] = i & 1;
    double best = 1e30, cpu = 0;
    const char *vb = getenv("BENCH_DNN_VERBOSE");
    int verbose = vb && atoi(vb) > 0;
    for (int it = 0; it < iters + 1; it++) { /* first = warm-up (primitive creation) */
        if (verbose) dnnl_set_verbose(it > 0 ? 1 : 0);
        double t0 = pn_now(), c0 = pn__cpu_seconds();
        pn_status st = eval ? pn_model_forward(m, x, n, 0, logits, &err)
                            : pn_model_train_step(m, x, labels, n, NULL, 1e-4, &loss, NULL, &err);
        if (st) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double dt = pn_now() - t0;
        if (it > 0 && dt < best) best = dt;
        if (it > 0) cpu += pn__cpu_seconds() - c0;
    }
    if (verbose) dnnl_set_verbose(0);
    fflush(stdout);
    printf("%s%s batch=%d threads=%d %.2f img/s %.4f cpu-s/img (best of %d, %.0f MiB planned)\n",
           eval ? "forward-eval" : argv[1],
           !bf16 ? "" : pn_model_is_bf16(m) ? " bf16" : " bf16->fp32", n, threads, n / best,
           cpu / ((double)iters * n), iters, pn_model_memory_bytes(m) / 1048576.0);
    pn_model_free(m);
    free(x), free(logits), free(labels);
    return 0;
}
