/* Checkpoints of the deeper freeze levels: the whole model, its Adam state,
 * the generator, epoch and history. Versioned binary, SHA-256 trailer,
 * written atomically.
 *
 * Layout (little-endian, native floats):
 *   "PNDEEPCK" u32 version=1 u32 freeze u32 classes u32 epochs_done
 *   i64 step  u64 rng_seed  i32 rng_left  u32 rng_state[624]
 *   f32 class_w[16]  u8 fingerprint[32]  u8 adam_layout[32]
 *   u64 n_opt  u64 n_tensors  u64 model_bytes
 *   model tensors, pn_model_save order, raw (f32 / i64), model_bytes in all
 *   f32 adam_m[n_opt] adam_v[n_opt]   (the engine's compute layout)
 *   f64 history[epochs_done][6]
 *   u8 sha256[32] of everything before
 */
#include <stdlib.h>
#include <string.h>

#include "pneumo/model.h"
#include "pneumo/train.h"
#include "pneumo/util.h"

#include "ckpt_common.h"

#define DK_MAGIC "PNDEEPCK"
#define DK_VERSION 1u

typedef struct dk_header {
    char magic[8];
    uint32_t version, freeze, classes, epochs_done;
    int64_t step;
    uint64_t rng_seed;
    int32_t rng_left;
    uint32_t rng_state[PN_MT_N];
    float class_w[PN_MAX_CLASSES];
    uint8_t fingerprint[32], layout[32];
    uint64_t n_opt, n_tensors, model_bytes;
} dk_header;

static size_t tensor_bytes(const pn_tensor *t)
{
    return t->numel * (t->dtype == PN_I64 ? sizeof(int64_t) : sizeof(float));
}

static size_t sd_bytes(const pn_statedict *sd)
{
    size_t n = 0;
    for (size_t i = 0; i < sd->n; i++) n += tensor_bytes(&sd->t[i]);
    return n;
}

pn_status pn_deep_checkpoint_save(const char *path, pn_model *m, const pn_head_state *st,
                                  pn_error *err)
{
    pn_model_opt o;
    PN_TRY(pn_model_opt_state(m, &o, err));
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_status rc = pn_model_save(m, &sd, err);
    if (rc) {
        pn_statedict_free(&sd);
        return pn_error_prefix(err, "checkpoint %s: ", path);
    }
    dk_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, DK_MAGIC, 8);
    h.version = DK_VERSION;
    h.freeze = (uint32_t)pn_model_get_config(m)->freeze;
    h.classes = (uint32_t)st->classes;
    h.epochs_done = (uint32_t)st->epochs_done;
    h.step = o.step;
    h.rng_seed = st->rng.seed;
    h.rng_left = st->rng.left;
    memcpy(h.rng_state, st->rng.state, sizeof h.rng_state);
    memcpy(h.class_w, st->class_w, sizeof h.class_w);
    memcpy(h.fingerprint, st->fingerprint, 32);
    memcpy(h.layout, o.layout, 32);
    h.n_opt = o.n;
    h.n_tensors = sd.n;
    h.model_bytes = sd_bytes(&sd);
    size_t total = sizeof h + h.model_bytes + 2 * o.n * sizeof(float) +
                   (size_t)st->epochs_done * 6 * sizeof(double) + 32;
    uint8_t *buf = malloc(total), *p = buf;
    if (!buf) {
        pn_statedict_free(&sd);
        return pn_error_set(err, PN_E_NOMEM, "checkpoint %s: out of memory (%zu bytes)", path,
                            total);
    }
    memcpy(p, &h, sizeof h);
    p += sizeof h;
    for (size_t i = 0; i < sd.n; i++) {
        memcpy(p, sd.t[i].data, tensor_bytes(&sd.t[i]));
        p += tensor_bytes(&sd.t[i]);
    }
    pn_statedict_free(&sd);
    memcpy(p, o.m, o.n * sizeof(float));
    p += o.n * sizeof(float);
    memcpy(p, o.v, o.n * sizeof(float));
    p += o.n * sizeof(float);
    p = pn_ckpt_put_history(p, st->hist, st->epochs_done);
    pn_ckpt_seal(buf, (size_t)(p - buf));
    rc = pn_write_file_atomic(path, buf, total, err);
    free(buf);
    return rc;
}

pn_status pn_deep_checkpoint_load(const char *path, pn_model *m, pn_head_state *st,
                                  int hist_cap, pn_error *err)
{
    uint8_t *buf;
    size_t n;
    PN_TRY(pn_read_file(path, (size_t)1 << 31, &buf, &n, err));
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_status rc = PN_OK;
    dk_header h;
    pn_model_opt o;
    if (n < sizeof h + 32) {
        rc = pn_error_set(err, PN_E_FORMAT, "checkpoint %s: truncated (%zu bytes)", path, n);
        goto done;
    }
    memcpy(&h, buf, sizeof h);
    if (memcmp(h.magic, DK_MAGIC, 8) || h.version != DK_VERSION) {
        rc = pn_error_set(err, PN_E_FORMAT,
                          "checkpoint %s: not a pneumo --freeze layer4/layer3/none checkpoint "
                          "(version %u; a --freeze fc one?)",
                          path, DK_VERSION);
        goto done;
    }
    if (h.classes < 2 || h.classes > PN_MAX_CLASSES || h.epochs_done > 100000 ||
        h.rng_left < 0 || h.rng_left > PN_MT_N || h.n_opt > n || h.model_bytes > n) {
        rc = pn_error_set(err, PN_E_FORMAT, "checkpoint %s: bad header values", path);
        goto done;
    }
    size_t want = sizeof h + h.model_bytes + 2 * h.n_opt * sizeof(float) +
                  (size_t)h.epochs_done * 6 * sizeof(double) + 32;
    if (n != want) {
        rc = pn_error_set(err, PN_E_FORMAT, "checkpoint %s: %zu bytes, expected %zu", path, n,
                          want);
        goto done;
    }
    if (!pn_ckpt_sealed(buf, want)) {
        rc = pn_error_set(err, PN_E_FORMAT, "checkpoint %s: checksum mismatch (corrupt file)",
                          path);
        goto done;
    }
    rc = pn_model_opt_state(m, &o, err);
    if (rc) goto done;
    rc = pn_model_save(m, &sd, err); /* the template: names, shapes, order */
    if (rc) goto done;
    if (h.freeze != (uint32_t)pn_model_get_config(m)->freeze ||
        h.classes != (uint32_t)pn_model_get_config(m)->num_classes || h.n_opt != o.n ||
        h.n_tensors != sd.n || h.model_bytes != sd_bytes(&sd) || memcmp(h.layout, o.layout, 32)) {
        rc = pn_error_set(err, PN_E_FORMAT,
                          "checkpoint %s: made for another model or Adam layout (--freeze %s, "
                          "%u classes, %llu Adam floats; this model: --freeze %s, %d classes, "
                          "%zu; or another CPU's oneDNN weight layout)",
                          path, h.freeze < 4 ? pn_freeze_name((pn_freeze)h.freeze) : "?",
                          h.classes, (unsigned long long)h.n_opt,
                          pn_freeze_name(pn_model_get_config(m)->freeze),
                          pn_model_get_config(m)->num_classes, o.n);
        goto done;
    }
    int cap = hist_cap > (int)h.epochs_done ? hist_cap : (int)h.epochs_done;
    pn_epoch_stats *hist = calloc(cap ? (size_t)cap : 1, sizeof *hist);
    if (!hist) {
        rc = pn_error_set(err, PN_E_NOMEM, "checkpoint %s: out of memory", path);
        goto done;
    }
    const uint8_t *p = buf + sizeof h;
    for (size_t i = 0; i < sd.n; i++) {
        memcpy(sd.t[i].data, p, tensor_bytes(&sd.t[i]));
        p += tensor_bytes(&sd.t[i]);
    }
    rc = pn_model_load(m, &sd, 0, err); /* zeroes the Adam state: import it after */
    if (rc) {
        free(hist);
        goto done;
    }
    memcpy(o.m, p, o.n * sizeof(float));
    p += o.n * sizeof(float);
    memcpy(o.v, p, o.n * sizeof(float));
    p += o.n * sizeof(float);
    rc = pn_model_set_adam_steps(m, (long)h.step, err);
    if (rc) {
        free(hist);
        goto done;
    }
    p = pn_ckpt_get_history(p, hist, h.epochs_done);
    st->classes = (int)h.classes;
    st->step = (long)h.step;
    st->epochs_done = (int)h.epochs_done;
    st->rng.seed = h.rng_seed;
    st->rng.left = h.rng_left;
    memcpy(st->rng.state, h.rng_state, sizeof h.rng_state);
    memcpy(st->class_w, h.class_w, sizeof h.class_w);
    memcpy(st->fingerprint, h.fingerprint, 32);
    free(st->hist);
    st->hist = hist;
done:
    pn_statedict_free(&sd);
    free(buf);
    if (rc) pn_error_prefix(err, "--resume: ");
    return rc;
}
