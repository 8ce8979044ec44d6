/* Integrity of the model files pneumo writes: SHA-256 of the tensors and of
 * the metadata, stored in the metadata on save ("pneumo.tensors_sha256",
 * "pneumo.metadata_sha256") and checked whenever a safetensors file that
 * carries them is read; and the check that a model holds finite numbers. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"

#define KEY_T "pneumo.tensors_sha256"
#define KEY_M "pneumo.metadata_sha256"

static atomic_int verify_on = 1;

void pn_weights_verify_hashes(int on) { atomic_store(&verify_on, on ? 1 : 0); }

static int cmp_meta(const void *a, const void *b)
{
    return strcmp((*(const pn_meta *const *)a)->key, (*(const pn_meta *const *)b)->key);
}

/* over the metadata sorted by key, without the two hash keys: key NUL value NUL */
static pn_status meta_sha256(const pn_statedict *sd, uint8_t out[32], pn_error *err)
{
    const pn_meta **m = malloc((sd->nmeta ? sd->nmeta : 1) * sizeof *m);
    if (!m) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < sd->nmeta; i++)
        if (strcmp(sd->meta[i].key, KEY_T) && strcmp(sd->meta[i].key, KEY_M)) m[n++] = &sd->meta[i];
    qsort(m, n, sizeof *m, cmp_meta);
    pn_sha256 h;
    pn_status st = pn_sha256_init(&h, err);
    if (!st) {
        pn_sha256_update(&h, "pneumo-metadata-v1", 19);
        for (size_t i = 0; i < n; i++) {
            pn_sha256_update(&h, m[i]->key, strlen(m[i]->key) + 1);
            pn_sha256_update(&h, m[i]->value, strlen(m[i]->value) + 1);
        }
        pn_sha256_final(&h, out);
    }
    free(m);
    return st;
}

pn_status pn__io_seal(pn_statedict *sd, pn_error *err)
{
    uint8_t h[32];
    char hex[65];
    PN_TRY(pn_statedict_sha256(sd, h, err));
    pn_hex(h, 32, hex);
    PN_TRY(pn_statedict_set_meta(sd, KEY_T, hex, err));
    PN_TRY(meta_sha256(sd, h, err));
    pn_hex(h, 32, hex);
    return pn_statedict_set_meta(sd, KEY_M, hex, err);
}

static pn_status check_one(const char *file, const char *what, const char *want,
                           const uint8_t got[32], pn_error *err)
{
    char hex[65];
    pn_hex(got, 32, hex);
    if (!strcmp(hex, want)) return PN_OK;
    return pn_error_set(err, PN_E_FORMAT,
                        "%s: the %s changed after pneumo wrote the file: their SHA-256 is %s, the "
                        "file records %s (a damaged or edited file; --no-verify uses it anyway)",
                        file, what, hex, want);
}

pn_status pn__io_verify(const pn_statedict *sd, const char *file, pn_error *err)
{
    const char *wt = pn_statedict_get_meta(sd, KEY_T), *wm = pn_statedict_get_meta(sd, KEY_M);
    if ((!wt && !wm) || !atomic_load(&verify_on)) return PN_OK;
    uint8_t h[32];
    if (wt) {
        PN_TRY(pn_statedict_sha256(sd, h, err));
        PN_TRY(check_one(file, "tensors", wt, h, err));
    }
    if (wm) {
        PN_TRY(meta_sha256(sd, h, err));
        PN_TRY(check_one(file, "metadata", wm, h, err));
    }
    return PN_OK;
}

pn_status pn__io_check_finite(const pn_statedict *sd, const char *file, pn_error *err)
{
    for (size_t i = 0; i < sd->n; i++) {
        const pn_tensor *t = &sd->t[i];
        if (t->dtype != PN_F32) continue;
        const float *v = t->data;
        for (size_t k = 0; k < t->numel; k++)
            if (!isfinite(v[k]))
                return pn_error_set(err, PN_E_NUMERIC,
                                    "%s: tensor %s holds %s (element %zu): the model cannot give "
                                    "usable probabilities (a damaged file, or a training run that "
                                    "diverged)",
                                    file, t->name, isnan(v[k]) ? "NaN" : "an infinity", k);
    }
    return PN_OK;
}
