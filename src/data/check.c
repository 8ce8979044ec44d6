/* pn_dataset_check: decode every item of a split in worker threads and
 * list the unreadable ones (in item order) with their reasons. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

pn_status pn__bad_list_add(pn_bad_list *l, const pn_item *it, pn_status code, const char *reason)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        pn_bad_item *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return PN_E_NOMEM;
        l->v = nv;
        l->cap = nc;
    }
    char *r = strdup(reason ? reason : "");
    if (!r) return PN_E_NOMEM;
    l->v[l->n++] = (pn_bad_item){it, code, r};
    return PN_OK;
}

void pn_bad_list_free(pn_bad_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->v[i].reason);
    free(l->v);
    memset(l, 0, sizeof *l);
}

typedef struct check_job {
    const pn_dataset *ds;
    pn_split split;
    const pn_decode_opts *o;
    size_t n;
    size_t next; /* under mu */
    pthread_mutex_t mu;
    pn_status *code; /* (n) */
    char **reason;   /* (n) */
    pn_check_info info; /* under mu */
} check_job;

static void *check_worker(void *arg)
{
    check_job *j = arg;
    uint8_t *buf = NULL;
    size_t cap = 0, n;
    pn_image img = {0};
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        pthread_mutex_unlock(&j->mu);
        if (i >= j->n) break;
        const pn_item *it = pn_dataset_item(j->ds, j->split, i);
        pn_error err = {0};
        pn_status st = pn__dataset_read_into(j->ds, it, &buf, &cap, &n, &err);
        if (!st) st = pn__dataset_decode(j->ds, it, buf, n, j->o, &img, &err);
        j->code[i] = st;
        if (st) j->reason[i] = strdup(err.msg);
        if (!st && img.png16) {
            pthread_mutex_lock(&j->mu);
            j->info.png16++;
            j->info.png16_clipped += img.png16_clipped != 0;
            pthread_mutex_unlock(&j->mu);
        }
    }
    free(buf);
    pn_image_free(&img);
    return NULL;
}

pn_status pn_dataset_check(const pn_dataset *ds, pn_split s, const pn_decode_opts *o,
                           int threads, pn_bad_list *bad, pn_error *err)
{
    return pn_dataset_check_info(ds, s, o, threads, bad, NULL, err);
}

pn_status pn_dataset_check_info(const pn_dataset *ds, pn_split s, const pn_decode_opts *o,
                                int threads, pn_bad_list *bad, pn_check_info *info,
                                pn_error *err)
{
    if (!ds || !bad) return pn_error_set(err, PN_E_ARG, "dataset check: no dataset");
    check_job j = {.ds = ds, .split = s, .o = o, .n = pn_dataset_count(ds, s)};
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    j.code = calloc(j.n + 1, sizeof *j.code);
    j.reason = calloc(j.n + 1, sizeof *j.reason);
    if (!j.code || !j.reason) {
        free(j.code);
        free(j.reason);
        return pn_error_set(err, PN_E_NOMEM, "dataset check: out of memory");
    }
    pthread_mutex_init(&j.mu, NULL);
    pthread_t tid[64];
    int started = 0;
    for (int t = 1; t < threads; t++)
        if (pthread_create(&tid[started], NULL, check_worker, &j) == 0) started++;
    check_worker(&j);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&j.mu);
    pn_status st = PN_OK;
    for (size_t i = 0; i < j.n; i++) {
        if (j.code[i] && !st)
            if (pn__bad_list_add(bad, pn_dataset_item(ds, s, i), j.code[i],
                                 j.reason[i] ? j.reason[i] : "out of memory"))
                st = pn_error_set(err, PN_E_NOMEM, "dataset check: out of memory");
        free(j.reason[i]);
    }
    free(j.code);
    free(j.reason);
    if (info) *info = j.info;
    return st;
}
