/* The sharded evaluation's gather: every rank's rows and bad items to rank
 * 0, packed as bytes (see eval_internal.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "eval/eval_internal.h"

/* row: u64 item index, i32 label, f32 probs[C] */
static size_t row_bytes(int C) { return 8 + 4 + 4 * (size_t)C; }

/* bad item: u32 split, u64 index, i32 code, u32 len, reason[len] */
static pn_status pack_bad(const pn_bad_list *bad, char **out, size_t *n, pn_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < bad->n; i++)
        total += 20 + (bad->v[i].reason ? strlen(bad->v[i].reason) : 0);
    char *b = malloc(total ? total : 1), *w = b;
    if (!b) return pn_error_set(err, PN_E_NOMEM, "eval gather: out of memory");
    for (size_t i = 0; i < bad->n; i++) {
        const pn_bad_item *it = &bad->v[i];
        uint32_t sp = it->item ? (uint32_t)it->item->split : UINT32_MAX;
        uint64_t ix = it->item ? (uint64_t)it->item->index : 0;
        int32_t code = (int32_t)it->code;
        uint32_t len = it->reason ? (uint32_t)strlen(it->reason) : 0;
        memcpy(w, &sp, 4), memcpy(w + 4, &ix, 8), memcpy(w + 12, &code, 4), memcpy(w + 16, &len, 4);
        if (len) memcpy(w + 20, it->reason, len);
        w += 20 + len;
    }
    *out = b;
    *n = total;
    return PN_OK;
}

static pn_status unpack_bad(const pn_dataset *ds, const char *b, size_t n, pn_bad_list *bad,
                            pn_error *err)
{
    for (size_t at = 0; at + 20 <= n;) {
        uint32_t sp, len;
        uint64_t ix;
        int32_t code;
        memcpy(&sp, b + at, 4), memcpy(&ix, b + at + 4, 8), memcpy(&code, b + at + 12, 4);
        memcpy(&len, b + at + 16, 4);
        if (at + 20 + len > n) break;
        if (bad->n == bad->cap) {
            size_t cap = bad->cap ? 2 * bad->cap : 16;
            pn_bad_item *v = realloc(bad->v, cap * sizeof *v);
            if (!v) return pn_error_set(err, PN_E_NOMEM, "eval gather: out of memory");
            bad->v = v;
            bad->cap = cap;
        }
        char *r = malloc((size_t)len + 1);
        if (!r) return pn_error_set(err, PN_E_NOMEM, "eval gather: out of memory");
        memcpy(r, b + at + 20, len);
        r[len] = 0;
        bad->v[bad->n++] = (pn_bad_item){
            sp == UINT32_MAX ? NULL : pn_dataset_item(ds, (pn_split)sp, (size_t)ix),
            (pn_status)code, r};
        at += 20 + len;
    }
    return PN_OK;
}

pn_status pn__eval_gather(const pn_dataset *ds, int C, float *probs, int *labels, size_t *idx,
                          size_t *k, pn_bad_list *bad, pn_error *err)
{
    if (pn__dist_size() == 1) return PN_OK;
    const size_t R = row_bytes(C);
    char *rows = malloc(*k ? *k * R : 1), *bb = NULL;
    void *all = NULL, *allb = NULL;
    size_t nall = 0, nb = 0, nallb = 0;
    pn_status st = rows ? PN_OK : pn_error_set(err, PN_E_NOMEM, "eval gather: out of memory");
    for (size_t i = 0; !st && i < *k; i++) {
        char *w = rows + i * R;
        uint64_t ix = idx[i];
        int32_t y = labels[i];
        memcpy(w, &ix, 8), memcpy(w + 8, &y, 4), memcpy(w + 12, probs + i * (size_t)C, 4 * (size_t)C);
    }
    if (!st) st = pack_bad(bad, &bb, &nb, err);
    /* a rank out of memory here ends the job (its status goes to the CLI) */
    if (!st) st = pn__dist_gatherv_bytes(rows, *k * R, 0, &all, &nall, err);
    if (!st) st = pn__dist_gatherv_bytes(bb, nb, 0, &allb, &nallb, err);
    if (!st) {
        for (size_t i = 0; i < bad->n; i++) free(bad->v[i].reason);
        bad->n = 0;
        *k = 0;
    }
    if (!st && pn__dist_rank() == 0) {
        const char *r = all;
        *k = nall / R;
        for (size_t i = 0; i < *k; i++) {
            uint64_t ix;
            int32_t y;
            memcpy(&ix, r + i * R, 8), memcpy(&y, r + i * R + 8, 4);
            memcpy(probs + i * (size_t)C, r + i * R + 12, 4 * (size_t)C);
            idx[i] = (size_t)ix;
            labels[i] = y;
        }
        st = unpack_bad(ds, allb, nallb, bad, err);
    }
    free(rows);
    free(bb);
    free(all);
    free(allb);
    return st;
}

pn_status pn__bad_gather(const pn_dataset *ds, pn_bad_list *bad, pn_error *err)
{
    size_t k = 0;
    return pn__eval_gather(ds, 1, NULL, NULL, NULL, &k, bad, err);
}
