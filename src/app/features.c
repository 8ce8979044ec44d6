/* Features of a split through the disk cache: hits are read, misses go
 * through the backbone in batches and are stored. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "featcache.h"

pn_status pn__features_compute(const pn_source *src, const pn_extractor *ex, pn_featcache *cache,
                              int split, float *out, pn_progress_fn progress, void *user,
                              volatile const int *cancel, pn_error *err)
{
    size_t n = src->count(src->ctx, split);
    if (n == 0) return PN_OK;
    const size_t D = (size_t)ex->dim;
    int B = ex->max_batch > 0 ? ex->max_batch : 1;
    size_t *miss = malloc(n * sizeof *miss);
    uint8_t(*keys)[32] = cache ? malloc(n * sizeof *keys) : NULL;
    float *tmp = malloc((size_t)B * D * sizeof *tmp);
    unsigned char *nokey = malloc(n);
    pn_status st = PN_OK;
    if (!miss || !tmp || !nokey || (cache && !keys)) {
        st = pn_error_set(err, PN_E_NOMEM, "features: out of memory for %zu items", n);
        goto done;
    }
    size_t nmiss = 0;
    for (size_t i = 0; i < n; i++) {
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
    size_t done_n = n - nmiss;
    if (progress) progress(pn_split_name((pn_split)(split)), done_n, n, user);
    for (size_t j = 0; j < nmiss; j += (size_t)B) {
        if (cancel && *cancel) {
            st = pn_error_set(err, PN_E_INTERRUPTED,
                              "interrupted while computing %s features (%zu of %zu done and "
                              "cached; rerun to continue)",
                              pn_split_name((pn_split)(split)), done_n, n);
            goto done;
        }
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
        done_n += (size_t)nb;
        if (progress) progress(pn_split_name((pn_split)(split)), done_n, n, user);
    }
done:
    free(miss);
    free(nokey);
    free(keys);
    free(tmp);
    return st;
}
