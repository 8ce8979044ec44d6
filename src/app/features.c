/* Features of a split through the disk cache: hits are read, misses go
 * through the backbone in batches and are stored. Under mpirun each rank
 * takes its contiguous share of the items (its node's cache, its misses)
 * and the rows are gathered on every rank (docs/mpi.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "featcache.h"

pn_status pn__features_compute(const pn_source *src, const pn_extractor *ex, pn_featcache *cache,
                              int split, float *out, pn_progress_fn progress, void *user,
                              volatile const int *cancel, pn_error *err)
{
    size_t n = src->count(src->ctx, split);
    if (n == 0) return PN_OK;
    const size_t D = (size_t)ex->dim;
    const int ranks = pn__dist_size();
    int B = ex->max_batch > 0 ? ex->max_batch : 1;
    size_t *miss = malloc(n * sizeof *miss);
    uint8_t(*keys)[32] = cache ? malloc(n * sizeof *keys) : NULL;
    float *tmp = malloc((size_t)B * D * sizeof *tmp);
    unsigned char *nokey = malloc(n);
    uint64_t c0[3] = {0};
    if (cache) c0[0] = cache->hits, c0[1] = cache->misses, c0[2] = cache->bad;
    pn_status st = PN_OK;
    if (!miss || !tmp || !nokey || (cache && !keys)) {
        st = pn_error_set(err, PN_E_NOMEM, "features: out of memory for %zu items", n);
        goto done;
    }
    size_t nmiss = 0, lo, hi; /* this rank's share: all of it in one process */
    pn__dist_share(n, pn__dist_rank(), ranks, &lo, &hi);
    for (size_t i = lo; i < hi; i++) {
        int hit = 0;
        nokey[i] = 0;
        if (cache) {
            uint8_t ch[32];
            pn_error he = {0};
            pn_status hs = src->content_hash(src->ctx, split, i, ch, &he);
            if (hs == PN_E_NOMEM) {
                st = pn_error_set(err, hs, "%s", he.msg);
                goto done;
            }
            if (hs) { /* unreadable (a FIFO, a folder, gone): the extractor says why,
                       * or leaves it out with --skip-bad; never cached */
                nokey[i] = 1;
                miss[nmiss++] = i;
                continue;
            }
            pn__featcache_key(ex->weights_hash, ex->settings, ex->stage, ch, keys[i]);
            st = pn__featcache_get(cache, keys[i], out + i * D, D, &hit, err);
            if (st) goto done;
        }
        if (!hit) miss[nmiss++] = i;
    }
    /* every rank runs as many rounds as the rank with the most misses; one
     * small allreduce per round gives the job's progress and stops every
     * rank at the same round on Ctrl-C */
    const size_t hits = hi - lo - nmiss;
    int rounds = (int)((nmiss + (size_t)B - 1) / (size_t)B);
    if ((st = pn__dist_allreduce_max_int(&rounds, 1, err))) goto done;
    size_t mine = 0, done_n = hits;
    for (int r = 0; r <= rounds; r++) {
        int stop = cancel && *cancel;
        if (ranks > 1) {
            uint64_t t[2] = {hits + mine, (uint64_t)stop};
            if ((st = pn__dist_allreduce_u64(t, 2, err))) goto done;
            done_n = (size_t)t[0];
            stop = t[1] > 0;
        }
        if (progress) progress(pn_split_name((pn_split)(split)), done_n, n, user);
        if (r == rounds) break;
        if (stop) {
            st = pn_error_set(err, PN_E_INTERRUPTED,
                              cache ? "interrupted while computing %s features (%zu of %zu done "
                                      "and cached: a rerun reads them from the cache)"
                                    : "interrupted while computing %s features (%zu of %zu done; "
                                      "nothing is cached without the disk cache)",
                              pn_split_name((pn_split)(split)), done_n, n);
            goto done;
        }
        size_t j = (size_t)r * (size_t)B;
        if (j >= nmiss) continue; /* this rank is through; the others are not */
        int nb = (int)(nmiss - j < (size_t)B ? nmiss - j : (size_t)B);
        st = ex->run(ex->ctx, split, miss + j, nb, tmp, err);
        if (st) {
            pn_error_prefix(err, "%s features: ", pn_split_name((pn_split)(split)));
            goto done;
        }
        for (int k = 0; k < nb; k++) {
            size_t i = miss[j + (size_t)k];
            memcpy(out + i * D, tmp + (size_t)k * D, D * sizeof *tmp);
            int finite = 1;
            for (size_t q = 0; q < D && finite; q++) finite = isfinite(tmp[(size_t)k * D + q]);
            if (cache && finite && !nokey[i]) { /* unreadable (skipped) items are never cached */
                st = pn__featcache_put(cache, keys[i], tmp + (size_t)k * D, D, err);
                if (st) {
                    pn_error_prefix(err, "feature cache (use --no-cache to skip it): ");
                    goto done;
                }
            }
        }
        mine += (size_t)nb;
        done_n = hits + mine;
    }
    /* every rank gets every row; the cache counts become the job's */
    st = pn__dist_allgather_rows(out, n, D * sizeof *out, err);
    if (!st && cache && ranks > 1) {
        uint64_t d[3] = {cache->hits - c0[0], cache->misses - c0[1], cache->bad - c0[2]};
        st = pn__dist_allreduce_u64(d, 3, err);
        cache->hits = (size_t)(c0[0] + d[0]);
        cache->misses = (size_t)(c0[1] + d[1]);
        cache->bad = (size_t)(c0[2] + d[2]);
    }
done:
    free(miss);
    free(nokey);
    free(keys);
    free(tmp);
    return st;
}
