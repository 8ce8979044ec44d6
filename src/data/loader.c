/* Parallel batch loader: worker threads claim items in order, read,
 * decode and preprocess them into a ring of `depth` batch slots; the
 * caller takes batches strictly in order. A worker may run at most
 * depth - 1 batches ahead of the caller (bounded memory). The output
 * depends only on (order, batch), never on thread timing. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define S PN_IMAGE_SIZE
#define ROW ((size_t)3 * S * S) /* one image (3, 224, 224) CHW float32 */

typedef struct slot {
    float *x;        /* (batch, 3, 224, 224) */
    pn_status *st;   /* (batch) */
    char **msg;      /* (batch) error messages (owned) */
    int done;        /* rows finished (under mu) */
} slot;

struct pn_loader {
    const pn_dataset *ds;
    pn_split split;
    size_t *order; /* (count) item indices in split */
    size_t count, nbatches;
    int batch, depth, nthreads, skip_bad;
    pn_decode_opts o;
    slot *slots; /* (depth) */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    size_t next_item; /* next position in order to claim */
    size_t consumed;  /* batches handed to the caller */
    int stop;
    pthread_t *tid;
    int started;
    pn_bad_list bad;
    pn_status failed;
    char fail_msg[PN_ERROR_MSG_MAX];
};

static int batch_rows(const pn_loader *l, size_t b)
{
    size_t first = b * (size_t)l->batch;
    size_t left = l->count - first;
    return left < (size_t)l->batch ? (int)left : l->batch;
}

static void *worker(void *arg)
{
    pn_loader *l = arg;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    pn_image img = {0};
    pn_prep_scratch scr = {0};
    for (;;) {
        pthread_mutex_lock(&l->mu);
        while (!l->stop && l->next_item < l->count &&
               l->next_item / (size_t)l->batch >= l->consumed + (size_t)l->depth)
            pthread_cond_wait(&l->cv_work, &l->mu);
        if (l->stop || l->next_item >= l->count) {
            pthread_mutex_unlock(&l->mu);
            break;
        }
        size_t i = l->next_item++;
        pthread_mutex_unlock(&l->mu);

        size_t b = i / (size_t)l->batch;
        int r = (int)(i % (size_t)l->batch);
        slot *sl = &l->slots[b % (size_t)l->depth];
        const pn_item *it = pn_dataset_item(l->ds, l->split, l->order[i]);
        pn_error err = {0};
        pn_status st = pn__dataset_read_into(l->ds, it, &buf, &cap, &n, &err);
        if (!st) st = pn__dataset_decode(l->ds, it, buf, n, &l->o, &img, &err);
        if (!st) st = pn_preprocess(&img, S, sl->x + (size_t)r * ROW, NULL, &scr, &err);
        if (st && !strstr(err.msg, it->name)) pn_error_prefix(&err, "%s: ", it->name);
        sl->st[r] = st;
        sl->msg[r] = st ? strdup(err.msg) : NULL;

        pthread_mutex_lock(&l->mu);
        if (++sl->done == batch_rows(l, b)) pthread_cond_broadcast(&l->cv_done);
        pthread_mutex_unlock(&l->mu);
    }
    free(buf);
    pn_image_free(&img);
    pn_prep_scratch_free(&scr);
    return NULL;
}

pn_status pn_loader_create(pn_loader **out, const pn_dataset *ds, pn_split s, const size_t *order,
                           size_t count, int batch, int threads, const pn_decode_opts *o,
                           int skip_bad, pn_error *err)
{
    if (!out || !ds) return pn_error_set(err, PN_E_ARG, "loader: no dataset");
    *out = NULL;
    size_t avail = pn_dataset_count(ds, s);
    if (count == 0) count = avail;
    if (batch < 1 || batch > 4096)
        return pn_error_set(err, PN_E_ARG, "loader: batch size %d out of range 1..4096", batch);
    if (!order && count > avail)
        return pn_error_set(err, PN_E_ARG, "loader: %zu items asked, split %s has %zu", count,
                            pn_split_name(s), avail);
    for (size_t i = 0; order && i < count; i++)
        if (order[i] >= avail)
            return pn_error_set(err, PN_E_ARG, "loader: order[%zu] = %zu, split %s has %zu", i,
                                order[i], pn_split_name(s), avail);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    pn_loader *l = calloc(1, sizeof *l);
    if (!l) return pn_error_set(err, PN_E_NOMEM, "loader: out of memory");
    l->ds = ds;
    l->split = s;
    l->count = count;
    l->batch = batch;
    l->nbatches = (count + (size_t)batch - 1) / (size_t)batch;
    l->nthreads = threads;
    l->depth = threads + 1 < 4 ? threads + 1 : 4;
    if (l->depth < 2) l->depth = 2;
    l->skip_bad = skip_bad;
    if (o) l->o = *o;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_done, NULL);
    l->order = malloc(sizeof(size_t) * (count + 1));
    l->slots = calloc((size_t)l->depth, sizeof(slot));
    l->tid = calloc((size_t)threads, sizeof(pthread_t));
    int ok = l->order && l->slots && l->tid;
    for (int k = 0; ok && k < l->depth; k++) {
        slot *sl = &l->slots[k];
        sl->x = malloc(sizeof(float) * ROW * (size_t)batch);
        sl->st = calloc((size_t)batch, sizeof(pn_status));
        sl->msg = calloc((size_t)batch, sizeof(char *));
        ok = sl->x && sl->st && sl->msg;
    }
    if (!ok) {
        pn_loader_free(l);
        return pn_error_set(err, PN_E_NOMEM, "loader: out of memory for %d batches of %d",
                            threads + 1, batch);
    }
    for (size_t i = 0; i < count; i++) l->order[i] = order ? order[i] : i;
    for (int t = 0; t < threads; t++) {
        if (pthread_create(&l->tid[t], NULL, worker, l) != 0) break;
        l->started++;
    }
    if (l->started == 0) {
        pn_loader_free(l);
        return pn_error_set(err, PN_E_BACKEND, "loader: cannot start worker threads");
    }
    *out = l;
    return PN_OK;
}

pn_status pn_loader_next(pn_loader *l, float *x, int *labels, size_t *idx, int *n, pn_error *err)
{
    *n = 0;
    if (l->failed) return pn_error_set(err, l->failed, "%s", l->fail_msg);
    if (l->consumed >= l->nbatches) return PN_OK;
    size_t b = l->consumed;
    int rows = batch_rows(l, b);
    slot *sl = &l->slots[b % (size_t)l->depth];
    pthread_mutex_lock(&l->mu);
    while (sl->done < rows) pthread_cond_wait(&l->cv_done, &l->mu);
    pthread_mutex_unlock(&l->mu);

    pn_status st = PN_OK;
    int k = 0;
    for (int r = 0; r < rows; r++) {
        size_t pos = b * (size_t)l->batch + (size_t)r;
        const pn_item *it = pn_dataset_item(l->ds, l->split, l->order[pos]);
        if (sl->st[r]) {
            const char *m = sl->msg[r] ? sl->msg[r] : "out of memory";
            if (!l->skip_bad) {
                if (!st) {
                    st = sl->st[r];
                    snprintf(l->fail_msg, sizeof l->fail_msg, "%s", m);
                }
            } else if (pn__bad_list_add(&l->bad, it, sl->st[r], m) && !st) {
                st = PN_E_NOMEM;
                snprintf(l->fail_msg, sizeof l->fail_msg, "loader: out of memory");
            }
            free(sl->msg[r]);
            sl->msg[r] = NULL;
            continue;
        }
        if (x) memcpy(x + (size_t)k * ROW, sl->x + (size_t)r * ROW, sizeof(float) * ROW);
        if (labels) labels[k] = it->label;
        if (idx) idx[k] = l->order[pos];
        k++;
    }
    pthread_mutex_lock(&l->mu);
    sl->done = 0;
    l->consumed++;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    if (st) {
        l->failed = st;
        return pn_error_set(err, st, "%s", l->fail_msg);
    }
    *n = k;
    /* a batch whose rows were all skipped: go on to the next one */
    if (k == 0 && rows > 0) return pn_loader_next(l, x, labels, idx, n, err);
    return PN_OK;
}

size_t pn_loader_skipped(const pn_loader *l) { return l->bad.n; }

const pn_bad_list *pn_loader_bad(const pn_loader *l) { return &l->bad; }

void pn_loader_free(pn_loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int t = 0; t < l->started; t++) pthread_join(l->tid[t], NULL);
    for (int k = 0; l->slots && k < l->depth; k++) {
        slot *sl = &l->slots[k];
        for (int r = 0; sl->msg && r < l->batch; r++) free(sl->msg[r]);
        free(sl->x);
        free(sl->st);
        free(sl->msg);
    }
    pn_bad_list_free(&l->bad);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_done);
    pthread_mutex_destroy(&l->mu);
    free(l->slots);
    free(l->order);
    free(l->tid);
    free(l);
}
