/* The dynamic schedule of the inference engine: with T >= 2 threads, a
 * batch is cut into chunks of a few images and T single-threaded workers
 * (each its own buffers, plans and stream; the weights shared) take the
 * next chunk from a shared counter until none is left.
 *
 * Why: oneDNN splits every primitive statically over its OpenMP team and
 * waits at a barrier after it, so when another process takes half of one
 * core the whole team runs at the pace of the slowed thread, and a 2-thread
 * forward falls to 1-thread speed (or below, as the barrier spins). Per-
 * image work pulled from a counter lets the thread on the free core do more
 * of the batch. Per image the arithmetic is the same (fp32: bit-identical
 * to the threaded plan, checked by tests/test_infer_int8.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "infer/infer_internal.h"

#define PN__SCHED_CHUNK 4 /* images per work item */

pn_status pn__sched_init(pn_infer *e, pn_error *err)
{
    const char *v = getenv("PNEUMO_INFER_SCHEDULE");
    int want = e->threads >= 2 && e->cfg.max_batch >= 2 * PN__SCHED_CHUNK;
    if (v && !strcmp(v, "static")) want = 0;
    if (v && !strcmp(v, "dynamic")) want = e->threads >= 2 && e->cfg.max_batch >= 2;
    /* oneDNN 2.6's f32 Winograd (jit_wino_4x3) crashes when two of its
     * primitives run at once in different threads (seen on avx512_core with
     * two workers): Winograd keeps oneDNN's own static split */
    if (e->winograd) want = 0;
    if (!want) return PN_OK;
    e->chunk = PN__SCHED_CHUNK < e->cfg.max_batch ? PN__SCHED_CHUNK : e->cfg.max_batch;
    int nw = (e->cfg.max_batch + e->chunk - 1) / e->chunk; /* more would idle */
    nw = nw < e->threads ? nw : e->threads;
    nw = nw < 64 ? nw : 64;
    e->work = calloc((size_t)nw, sizeof *e->work);
    if (!e->work) return pn_error_set(err, PN_E_NOMEM, "inference workers: out of memory");
    e->nwork = nw;
    pn__set_threads(1); /* the workers' primitives are made for one thread */
    pn_status st = PN_OK;
    for (int i = 0; st == PN_OK && i < e->nwork; i++)
        st = pn__ctx_init(e, &e->work[i], e->chunk, 1, err);
    pn__set_threads(e->threads);
    return st;
}

int pn__sched_applies(const pn_infer *e, int n) { return e->nwork > 0 && n >= 2 * e->chunk; }

typedef struct job {
    pn_infer *e;
    const float *x;
    float *out, *layer4;
    int n, nchunk;
    size_t in_img, out_img, l4_img; /* floats per image */
    atomic_int next, failed;
} job;

typedef struct worker {
    job *j;
    pn__ctx *c;
    pn_status st;
    pn_error err;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    job *j = w->j;
    pn__set_threads(1); /* this thread's OpenMP teams: itself */
    for (;;) {
        int k = atomic_fetch_add(&j->next, 1);
        if (k >= j->nchunk || atomic_load(&j->failed)) break;
        size_t i0 = (size_t)k * (size_t)j->e->chunk;
        int m = j->n - (int)i0 < j->e->chunk ? j->n - (int)i0 : j->e->chunk;
        w->st = pn__ctx_run(j->e, w->c, j->x + i0 * j->in_img, m, j->out + i0 * j->out_img,
                            j->layer4 ? j->layer4 + i0 * j->l4_img : NULL, &w->err);
        if (w->st != PN_OK) {
            atomic_store(&j->failed, 1);
            break;
        }
    }
    return NULL;
}

pn_status pn__sched_run(pn_infer *e, const float *x, int n, float *out, float *layer4,
                        pn_error *err)
{
    int64_t chw[3];
    job j = {.e = e, .x = x, .out = out, .layer4 = layer4, .n = n,
             .nchunk = (n + e->chunk - 1) / e->chunk};
    j.in_img = (size_t)3 * e->cfg.height * e->cfg.width;
    j.out_img = pn_infer_stage_shape(e, e->cfg.stop, chw);
    j.l4_img = pn_infer_stage_shape(e, PN_STAGE_LAYER4, chw);
    atomic_init(&j.next, 0);
    atomic_init(&j.failed, 0);
    worker w[64];
    pthread_t tid[64];
    int nw = e->nwork < 64 ? e->nwork : 64, started = 1;
    for (int i = 0; i < nw; i++) w[i] = (worker){.j = &j, .c = &e->work[i], .st = PN_OK};
    for (int i = 1; i < nw; i++) { /* the caller is worker 0 */
        if (pthread_create(&tid[i], NULL, work, &w[i])) break;
        started++;
    }
    work(&w[0]);
    for (int i = 1; i < started; i++) pthread_join(tid[i], NULL);
    pn__set_threads(e->threads);
    for (int i = 0; i < nw; i++)
        if (w[i].st != PN_OK) {
            if (err) *err = w[i].err;
            return w[i].st;
        }
    return PN_OK;
}
