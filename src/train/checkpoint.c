/* Head checkpoints: versioned binary, SHA-256 trailer, written atomically.
 *
 * Layout (little-endian, native floats):
 *   "PNHEADCK" u32 version=1 u32 classes u32 dim u32 epochs_done
 *   i64 step  u64 rng_seed  i32 rng_left  u32 rng_state[624]
 *   f32 class_w[16]  u8 fingerprint[32]
 *   f32 w[C*D] b[C] mw[C*D] vw[C*D] mb[C] vb[C]   (in memory order: w mw vw b mb vb)
 *   f64 history[epochs_done][6] (epoch, train_loss, train_acc, val_loss, val_acc, seconds)
 *   u8 sha256[32] of everything before
 */
#include <stdlib.h>
#include <string.h>

#include "pneumo/train.h"
#include "pneumo/util.h"

#include "ckpt_common.h"

#define CK_MAGIC "PNHEADCK"
#define CK_VERSION 1u

typedef struct ck_header {
    char magic[8];
    uint32_t version, classes, dim, epochs_done;
    int64_t step;
    uint64_t rng_seed;
    int32_t rng_left;
    uint32_t rng_state[PN_MT_N];
    float class_w[PN_MAX_CLASSES];
    uint8_t fingerprint[32];
} ck_header;

static size_t param_floats(int c, int d) { return 3 * ((size_t)c * d + (size_t)c); }

pn_status pn_checkpoint_save(const char *path, const pn_head_state *st, pn_error *err)
{
    ck_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, CK_MAGIC, 8);
    h.version = CK_VERSION;
    h.classes = (uint32_t)st->classes;
    h.dim = (uint32_t)st->dim;
    h.epochs_done = (uint32_t)st->epochs_done;
    h.step = st->step;
    h.rng_seed = st->rng.seed;
    h.rng_left = st->rng.left;
    memcpy(h.rng_state, st->rng.state, sizeof h.rng_state);
    memcpy(h.class_w, st->class_w, sizeof h.class_w);
    memcpy(h.fingerprint, st->fingerprint, 32);
    size_t np = param_floats(st->classes, st->dim);
    size_t nh = (size_t)st->epochs_done * 6;
    size_t total = sizeof h + np * sizeof(float) + nh * sizeof(double) + 32;
    uint8_t *buf = malloc(total), *p = buf;
    if (!buf) return pn_error_set(err, PN_E_NOMEM, "checkpoint %s: out of memory", path);
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    memcpy(p, st->w, np * sizeof(float)); /* w mw vw b mb vb: one block */
    p += np * sizeof(float);
    p = pn_ckpt_put_history(p, st->hist, st->epochs_done);
    pn_ckpt_seal(buf, (size_t)(p - buf));
    pn_status rc = pn_write_file_atomic(path, buf, total, err);
    free(buf);
    return rc;
}

pn_status pn_checkpoint_load(const char *path, pn_head_state *st, pn_error *err)
{
    memset(st, 0, sizeof *st);
    uint8_t *buf;
    size_t n;
    pn_status rc = pn_read_file(path, (size_t)1 << 30, &buf, &n, err);
    if (rc) return rc;
    ck_header h;
    if (n < sizeof h + 32) {
        free(buf);
        return pn_error_set(err, PN_E_FORMAT, "checkpoint %s: truncated (%zu bytes)", path, n);
    }
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, CK_MAGIC, 8) || h.version != CK_VERSION) {
        free(buf);
        return pn_error_set(err, PN_E_FORMAT,
                            "checkpoint %s: not a pneumo head checkpoint (version %u)", path,
                            CK_VERSION);
    }
    if (h.classes < 2 || h.classes > PN_MAX_CLASSES || h.dim < 1 || h.dim > (1u << 20) ||
        h.epochs_done > 100000 || h.rng_left < 0 || h.rng_left > PN_MT_N) {
        free(buf);
        return pn_error_set(err, PN_E_FORMAT, "checkpoint %s: bad header values", path);
    }
    size_t np = param_floats((int)h.classes, (int)h.dim), nh = (size_t)h.epochs_done * 6;
    size_t want = sizeof h + np * sizeof(float) + nh * sizeof(double) + 32;
    if (n != want) {
        free(buf);
        return pn_error_set(err, PN_E_FORMAT, "checkpoint %s: %zu bytes, expected %zu", path, n,
                            want);
    }
    if (!pn_ckpt_sealed(buf, want)) {
        free(buf);
        return pn_error_set(err, PN_E_FORMAT, "checkpoint %s: checksum mismatch (corrupt file)",
                            path);
    }
    float *blk = malloc(np * sizeof *blk);
    pn_epoch_stats *hist = calloc(h.epochs_done ? h.epochs_done : 1, sizeof *hist);
    if (!blk || !hist) {
        free(blk);
        free(hist);
        free(buf);
        return pn_error_set(err, PN_E_NOMEM, "checkpoint %s: out of memory", path);
    }
    memcpy(blk, buf + sizeof h, np * sizeof *blk);
    const uint8_t *p = buf + sizeof h + np * sizeof(float);
    p = pn_ckpt_get_history(p, hist, h.epochs_done);
    free(buf);
    size_t nw = (size_t)h.classes * h.dim;
    st->classes = (int)h.classes;
    st->dim = (int)h.dim;
    st->w = blk;
    st->mw = blk + nw;
    st->vw = blk + 2 * nw;
    st->b = blk + 3 * nw;
    st->mb = st->b + h.classes;
    st->vb = st->b + 2 * h.classes;
    st->step = h.step;
    st->epochs_done = (int)h.epochs_done;
    st->rng.seed = h.rng_seed;
    st->rng.left = h.rng_left;
    memcpy(st->rng.state, h.rng_state, sizeof h.rng_state);
    memcpy(st->class_w, h.class_w, sizeof h.class_w);
    memcpy(st->fingerprint, h.fingerprint, 32);
    st->hist = hist;
    return PN_OK;
}
