/* Internal to the CLI and bench/: timing the inference engine and one
 * training step (src/cli/bench_run.c). */
#ifndef PNEUMO_CLI_BENCH_RUN_H
#define PNEUMO_CLI_BENCH_RUN_H

#include "pneumo/infer.h"
#include "pneumo/status.h"
#include "pneumo/tensor.h"

/* user + sys CPU seconds of the process, all threads (getrusage) */
double pn__cpu_seconds(void);

/* img_per_s from the median batch time; cpu_s_per_img is the process CPU
 * time (user + sys, all threads) per image over the timed batches, the
 * steadier number on a shared machine; bf16 says whether bf16 really ran. */
typedef struct pn__bench_result {
    double img_per_s;
    double cpu_s_per_img;
    int bf16;
    int int8, winograd; /* whether they really ran */
} pn__bench_result;

/* Calibrate int8 on the synthetic bench input (one batch through an fp32
 * engine with cfg's size) and store the calibration in sd's metadata. */
pn_status pn__bench_calibrate(pn_statedict *sd, const pn_infer_config *cfg, pn_error *err);

/* A busy neighbour: a child process spinning on the CPU for at most
 * seconds (it exits by itself; pn__bench_busy_stop ends it sooner).
 * Returns its pid, or -1. */
int pn__bench_busy_start(int seconds);
void pn__bench_busy_stop(int pid);

/* Forward `iters` timed batches (after one untimed warm-up) of a fresh
 * engine with cfg on synthetic input. */
pn_status pn__bench_infer(const pn_statedict *sd, const pn_infer_config *cfg, int iters,
                          pn__bench_result *r, pn_error *err);

/* The same for one training step (forward, cross-entropy, backward, Adam)
 * of the trainable model at a freeze level ("fc", "layer4", "layer3",
 * "none"), batch `batch`, size x size, from images; bf16: the trainable
 * convs in bfloat16 (pn_model_config.bf16; r->bf16 says whether it ran). */
pn_status pn__bench_train(const pn_statedict *sd, const char *freeze, int batch, int size,
                          int threads, int iters, int bf16, pn__bench_result *r, pn_error *err);

#endif
