/* Internal to src/app: the on-disk cache of backbone outputs (pooled features or boundary
 * activations), one file per image:
 *
 *   <cache>/features/<key>.bin      (<cache> = pn_cache_dir())
 *   key = hex SHA-256 of ("pneumo-feat-v1", weights hash, preprocessing
 *         settings text (size, mean/std, fast-decode, bf16, ...), stage name,
 *         SHA-256 of the image file's bytes)
 *
 * File: "PNFEAT01", u32 numel, u8 key[32], f32 data[numel], u8 sha256[32]
 * of everything before. Written atomically; on read the size, magic, key
 * and checksum are checked, and a file that fails is treated as a miss.
 */
#ifndef PNEUMO_APP_FEATCACHE_H
#define PNEUMO_APP_FEATCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/app.h"
#include "pneumo/status.h"


typedef struct pn_featcache {
    char dir[4096]; /* .../features */
    size_t hits, misses, bad;
} pn_featcache;

/* dir NULL: pn_cache_dir()/features. Creates the folder. */
pn_status pn__featcache_open(pn_featcache *fc, const char *dir, pn_error *err);

void pn__featcache_key(const uint8_t weights_hash[32], const char *settings, const char *stage,
                      const uint8_t content_hash[32], uint8_t key[32]);

/* *hit = 1 and out filled when a valid entry of numel floats exists. */
pn_status pn__featcache_get(pn_featcache *fc, const uint8_t key[32], float *out, size_t numel,
                           int *hit, pn_error *err);
pn_status pn__featcache_put(pn_featcache *fc, const uint8_t key[32], const float *x, size_t numel,
                           pn_error *err);

/* Features of every item of a split -> out (count, dim), through the cache
 * when cache is non-NULL (hits skip the backbone; misses are computed in
 * batches of max_batch and stored). cancel (may be NULL): non-zero stops
 * between batches with PN_E_INTERRUPTED (what was cached stays cached). */
pn_status pn__features_compute(const pn_source *src, const pn_extractor *ex, pn_featcache *cache,
                               int split, float *out, pn_progress_fn progress, void *user,
                               volatile const int *cancel, pn_error *err);

#endif
