/* pneumo: on-disk cache of backbone outputs (pooled features or boundary
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
#ifndef PNEUMO_FEATCACHE_H
#define PNEUMO_FEATCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pn_featcache {
    char dir[4096]; /* .../features */
    size_t hits, misses, bad;
} pn_featcache;

/* dir NULL: pn_cache_dir()/features. Creates the folder. */
pn_status pn_featcache_open(pn_featcache *fc, const char *dir, pn_error *err);

void pn_featcache_key(const uint8_t weights_hash[32], const char *settings, const char *stage,
                      const uint8_t content_hash[32], uint8_t key[32]);

/* *hit = 1 and out filled when a valid entry of numel floats exists. */
pn_status pn_featcache_get(pn_featcache *fc, const uint8_t key[32], float *out, size_t numel,
                           int *hit, pn_error *err);
pn_status pn_featcache_put(pn_featcache *fc, const uint8_t key[32], const float *x, size_t numel,
                           pn_error *err);

#ifdef __cplusplus
}
#endif
#endif
