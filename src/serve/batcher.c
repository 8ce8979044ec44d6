/* pneumo serve: the request queue. Submitters (the HTTP threads) append a
 * job; one worker thread takes up to max_batch jobs once the batch is full
 * or the oldest job has waited max_wait_ms, runs the classifier on them in
 * one call and notifies each job. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pneumo/cam.h"
#include "serve/serve.h"

#define IMG_FLOATS (3 * 224 * 224)
#define L4_FLOATS (512 * 7 * 7)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void run_batch(pn__batcher *b, pn__job **jobs, int n)
{
    int want_cam = 0;
    for (int i = 0; i < n; i++) {
        memcpy(b->x + (size_t)i * IMG_FLOATS, jobs[i]->x, IMG_FLOATS * sizeof(float));
        want_cam |= jobs[i]->want_cam;
    }
    pn_error err = {0};
    pn_status st = pn_classifier_run(b->c, b->x, n, b->probs, want_cam ? b->l4 : NULL, &err);
    int C = b->c->classes;
    for (int i = 0; i < n; i++) {
        pn__job *j = jobs[i];
        j->st = st;
        j->batch_n = n;
        if (st) {
            snprintf(j->msg, sizeof j->msg, "%.250s", err.msg);
        } else {
            memcpy(j->probs, b->probs + (size_t)i * C, (size_t)C * sizeof(float));
            j->label = pn_classifier_decide(b->c, j->probs, b->threshold);
            if (j->want_cam)
                pn_cam_compute(b->l4 + (size_t)i * L4_FLOATS, 512, 7, 7,
                               b->c->fc_w + (size_t)j->label * 512, j->cam);
        }
    }
    pthread_mutex_lock(&b->mu);
    b->batches++;
    b->images += (uint64_t)n;
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < n; i++) jobs[i]->notify(jobs[i]->arg); /* jobs[i] may be gone after this */
}

static void *worker(void *arg)
{
    pn__batcher *b = arg;
    pn__job *jobs[256];
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->stop) pthread_cond_wait(&b->cv, &b->mu);
        if (!b->head) break; /* stopping and nothing left */
        /* wait for a full batch or the oldest job's deadline */
        double deadline = b->head->t_enq + b->max_wait_ms * 1e-3;
        while (b->qlen < b->max_batch && !b->stop) {
            double left = deadline - now_s();
            if (left <= 0) break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            long ns = ts.tv_nsec + (long)(left * 1e9);
            ts.tv_sec += ns / 1000000000L;
            ts.tv_nsec = ns % 1000000000L;
            if (pthread_cond_timedwait(&b->cv, &b->mu, &ts) == ETIMEDOUT) break;
        }
        int n = 0;
        while (b->head && n < b->max_batch) {
            jobs[n++] = b->head;
            b->head = b->head->next;
        }
        if (!b->head) b->tail = NULL;
        b->qlen -= n;
        pthread_mutex_unlock(&b->mu);
        run_batch(b, jobs, n);
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

pn_status pn__batcher_start(pn__batcher *b, pn_classifier *c, double threshold, int max_batch,
                            int max_queue, int max_wait_ms, pn_error *err)
{
    memset(b, 0, sizeof *b);
    if (max_batch < 1 || max_batch > 256 || max_batch > c->batch)
        return pn_error_set(err, PN_E_ARG, "max batch %d: must be 1..%d", max_batch,
                            c->batch < 256 ? c->batch : 256);
    b->c = c;
    b->threshold = threshold;
    b->max_batch = max_batch;
    b->max_queue = max_queue;
    b->max_wait_ms = max_wait_ms;
    b->x = malloc((size_t)max_batch * IMG_FLOATS * sizeof(float));
    b->probs = malloc((size_t)max_batch * c->classes * sizeof(float));
    b->l4 = malloc((size_t)max_batch * L4_FLOATS * sizeof(float));
    if (!b->x || !b->probs || !b->l4) {
        free(b->x);
        free(b->probs);
        free(b->l4);
        return pn_error_set(err, PN_E_NOMEM, "serve: out of memory for a batch of %d", max_batch);
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&b->mu, NULL);
    if (pthread_create(&b->th, NULL, worker, b)) {
        pthread_cond_destroy(&b->cv);
        pthread_mutex_destroy(&b->mu);
        free(b->x);
        free(b->probs);
        free(b->l4);
        return pn_error_set(err, PN_E_NOMEM, "serve: cannot start the batch thread");
    }
    b->started = 1;
    return PN_OK;
}

int pn__batcher_submit(pn__batcher *b, pn__job *j)
{
    pthread_mutex_lock(&b->mu);
    if (b->qlen >= b->max_queue || b->stop) {
        pthread_mutex_unlock(&b->mu);
        return -1;
    }
    j->next = NULL;
    j->t_enq = now_s();
    if (b->tail) b->tail->next = j;
    else b->head = j;
    b->tail = j;
    b->qlen++;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    return 0;
}

int pn__batcher_stats(pn__batcher *b, uint64_t *batches)
{
    if (!b->started) {
        *batches = b->batches;
        return 0;
    }
    pthread_mutex_lock(&b->mu);
    int n = b->qlen;
    *batches = b->batches;
    pthread_mutex_unlock(&b->mu);
    return n;
}

void pn__batcher_stop(pn__batcher *b)
{
    if (!b->started) return;
    pthread_mutex_lock(&b->mu);
    b->stop = 1;
    pthread_cond_signal(&b->cv);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->th, NULL);
    pthread_cond_destroy(&b->cv);
    pthread_mutex_destroy(&b->mu);
    free(b->x);
    free(b->probs);
    free(b->l4);
    b->started = 0;
}
