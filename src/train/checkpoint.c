/* Checkpoints: one safetensors file (io/safetensors.c) with the trainer's
 * state, the generator and, in the metadata, what resuming needs.
 *
 *   tensors   the trainer's export_state (parameters, buffers, the
 *             optimiser state optim.<state>.<name>: exp_avg/exp_avg_sq
 *             for Adam, momentum_buffer for SGD) and
 *             rng.mt19937 (I64: state[624], left, seed)
 *   metadata  format "pneumo-checkpoint", version, kind, freeze, classes,
 *             adam_step, epochs_done, fingerprint (hex), class_weights and
 *             history (JSON, with each epoch's lr and val_auc: the schedule
 *             and the selection replay from it), checksum_sha256: SHA-256 of the whole file
 *             with this value written as 64 zeros
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "pneumo/train.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"
#include "train_internal.h"

#define CK_VERSION "1"
#define CK_SUM "\"checksum_sha256\":\""
#define CK_ZERO "0000000000000000000000000000000000000000000000000000000000000000"

/* the 64 hex digits of checksum_sha256 in a file's header, or NULL */
static uint8_t *find_sum(uint8_t *buf, size_t n)
{
    if (n < 8) return NULL;
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | buf[i];
    if (hl > n - 8) return NULL;
    size_t kl = strlen(CK_SUM);
    for (size_t i = 8; i + kl + 64 <= 8 + hl; i++)
        if (!memcmp(buf + i, CK_SUM, kl)) return buf + i + kl;
    return NULL;
}

static void file_sum(uint8_t *buf, size_t n, uint8_t *at, char hex[65])
{
    char keep[64];
    memcpy(keep, at, 64);
    memcpy(at, CK_ZERO, 64);
    uint8_t h[32];
    pn_sha256_buf(buf, n, h);
    pn_hex(h, 32, hex);
    memcpy(at, keep, 64);
}

static cJSON *num(double v)
{
    char s[40];
    if (!isfinite(v)) return cJSON_CreateNull();
    snprintf(s, sizeof s, "%.17g", v); /* exact round trip */
    return cJSON_CreateRaw(s);
}

static char *history_json(const pn_head_state *st)
{
    cJSON *a = cJSON_CreateArray();
    for (int e = 0; a && e < st->epochs_done; e++) {
        const pn_epoch_stats *s = &st->hist[e];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToArray(a, o);
        cJSON_AddItemToObject(o, "epoch", num(s->epoch));
        cJSON_AddItemToObject(o, "train_loss", num(s->train_loss));
        cJSON_AddItemToObject(o, "train_acc", num(s->train_acc));
        cJSON_AddItemToObject(o, "val_loss", num(s->val_loss));
        cJSON_AddItemToObject(o, "val_acc", num(s->val_acc));
        cJSON_AddItemToObject(o, "seconds", num(s->seconds));
        cJSON_AddItemToObject(o, "lr", num(s->lr));
        cJSON_AddItemToObject(o, "val_auc", num(s->val_auc));
    }
    char *txt = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return txt;
}

static char *weights_json(const pn_head_state *st)
{
    cJSON *a = cJSON_CreateArray();
    for (int c = 0; a && c < st->classes && c < PN_MAX_CLASSES; c++)
        cJSON_AddItemToArray(a, num(st->class_w[c]));
    char *txt = a ? cJSON_PrintUnformatted(a) : NULL;
    cJSON_Delete(a);
    return txt;
}

/* the checkpoint's tensors: the trainer's state and the generator */
static pn_status state_dict(pn_trainer *t, const pn_rng *g, pn_statedict *sd, pn_error *err)
{
    PN_TRY(t->export_state(t->ctx, sd, err));
    int64_t r[PN_MT_N + 2], n = PN_MT_N + 2;
    for (int i = 0; i < PN_MT_N; i++) r[i] = g ? g->state[i] : 0;
    r[PN_MT_N] = g ? g->left : 0;
    memcpy(&r[PN_MT_N + 1], g ? &g->seed : &(uint64_t){0}, 8);
    return pn_statedict_add(sd, "rng.mt19937", PN_I64, 1, &n, r, NULL, err);
}

pn_status pn_checkpoint_save(const char *path, pn_trainer *t, const pn_head_state *st,
                             pn_error *err)
{
    pn_statedict sd;
    pn_statedict_init(&sd);
    char fp[65], s_step[32], s_ep[32], s_c[16];
    pn_hex(st->fingerprint, 32, fp);
    snprintf(s_step, sizeof s_step, "%ld", st->step);
    snprintf(s_ep, sizeof s_ep, "%d", st->epochs_done);
    snprintf(s_c, sizeof s_c, "%d", t->classes);
    char *hist = history_json(st), *cw = weights_json(st);
    pn_status rc = hist && cw ? PN_OK : pn_error_set(err, PN_E_NOMEM, "out of memory");
    const char *meta[][2] = {{"format", "pneumo-checkpoint"}, {"version", CK_VERSION},
                             {"kind", t->kind}, {"freeze", t->level}, {"classes", s_c},
                             {"adam_step", s_step}, {"epochs_done", s_ep}, {"fingerprint", fp},
                             {"class_weights", cw}, {"history", hist},
                             {"checksum_sha256", CK_ZERO}};
    for (size_t i = 0; !rc && i < sizeof meta / sizeof meta[0]; i++)
        rc = pn_statedict_set_meta(&sd, meta[i][0], meta[i][1], err);
    if (!rc && st->settings_json) rc = pn_statedict_set_meta(&sd, "settings", st->settings_json, err);
    free(hist);
    free(cw);
    if (!rc) rc = state_dict(t, &st->rng, &sd, err);
    if (!rc) rc = pn_safetensors_save(path, &sd, err);
    pn_statedict_free(&sd);
    /* the checksum of what was written goes in place of the zeros */
    uint8_t *buf = NULL, *at;
    size_t n;
    if (!rc) rc = pn_read_file(path, (size_t)1 << 32, &buf, &n, err);
    if (!rc && !(at = find_sum(buf, n)))
        rc = pn_error_set(err, PN_E_BACKEND, "checkpoint %s: no checksum field", path);
    if (!rc) {
        char hex[65];
        file_sum(buf, n, at, hex);
        memcpy(at, hex, 64);
        rc = pn_write_file_atomic(path, buf, n, err);
    }
    free(buf);
    return rc;
}

int pn__checkpoint_is_old(const char *path)
{
    char magic[8] = {0};
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t got = fread(magic, 1, 8, f);
    fclose(f);
    return got == 8 && (!memcmp(magic, "PNHEADCK", 8) || !memcmp(magic, "PNDEEPCK", 8));
}

static const char *meta(const pn_statedict *sd, const char *key)
{
    const char *v = pn_statedict_get_meta(sd, key);
    return v ? v : "";
}

/* the file's tensors are exactly the trainer's (names, dtypes, shapes) */
static const char *mismatch(const pn_statedict *want, const pn_statedict *got)
{
    if (want->n != got->n) return "the number of tensors";
    for (size_t i = 0; i < want->n; i++) {
        const pn_tensor *a = &want->t[i], *b = pn_statedict_findc(got, a->name);
        if (!b || b->dtype != a->dtype || b->ndim != a->ndim ||
            memcmp(b->shape, a->shape, (size_t)a->ndim * sizeof a->shape[0]))
            return a->name;
    }
    return NULL;
}

static pn_status read_meta(const char *path, const pn_statedict *sd, pn_head_state *st,
                           int hist_cap, pn_error *err)
{
    char *end;
    long step = strtol(meta(sd, "adam_step"), &end, 10);
    long ep = strtol(meta(sd, "epochs_done"), NULL, 10);
    cJSON *h = cJSON_Parse(meta(sd, "history")), *cw = cJSON_Parse(meta(sd, "class_weights"));
    const char *fp = meta(sd, "fingerprint");
    pn_status rc = PN_OK;
    if (step < 0 || ep < 0 || ep > 100000 || !cJSON_IsArray(h) ||
        cJSON_GetArraySize(h) != (int)ep || !cJSON_IsArray(cw) ||
        cJSON_GetArraySize(cw) != st->classes || strlen(fp) != 64) {
        rc = pn_error_set(err, PN_E_FORMAT, "checkpoint %s: bad metadata values", path);
        goto done;
    }
    int cap = hist_cap > (int)ep ? hist_cap : (int)ep;
    pn_epoch_stats *hist = calloc(cap ? (size_t)cap : 1, sizeof *hist);
    if (!hist) {
        rc = pn_error_set(err, PN_E_NOMEM, "checkpoint %s: out of memory", path);
        goto done;
    }
    for (int e = 0; e < (int)ep; e++) {
        const cJSON *o = cJSON_GetArrayItem(h, e);
        double v[8];
        const char *k[8] = {"epoch",   "train_loss", "train_acc", "val_loss",
                            "val_acc", "seconds",    "lr",        "val_auc"};
        for (int i = 0; i < 8; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k[i]);
            v[i] = cJSON_IsNumber(x) ? x->valuedouble : NAN;
        }
        hist[e] = (pn_epoch_stats){(int)v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    }
    for (int c = 0; c < PN_MAX_CLASSES; c++) {
        const cJSON *x = c < st->classes ? cJSON_GetArrayItem(cw, c) : NULL;
        st->class_w[c] = x ? (float)x->valuedouble : 1.0f;
    }
    for (int i = 0; i < 32; i++) sscanf(fp + 2 * i, "%2hhx", &st->fingerprint[i]);
    free(st->hist);
    st->hist = hist;
    st->step = step;
    st->epochs_done = (int)ep;
done:
    cJSON_Delete(h);
    cJSON_Delete(cw);
    return rc;
}

pn_status pn_checkpoint_load(const char *path, pn_trainer *t, pn_head_state *st, int hist_cap,
                             pn_error *err)
{
    uint8_t *buf, *at;
    size_t n;
    PN_TRY(pn_read_file(path, (size_t)1 << 32, &buf, &n, err));
    pn_statedict sd, want;
    pn_statedict_init(&sd);
    pn_statedict_init(&want);
    pn_status rc = PN_OK;
    char hex[65];
    const char *bad;
    if (pn__checkpoint_is_old(path)) {
        rc = pn_error_set(err, PN_E_FORMAT,
                          "checkpoint %s is in the format of an older pneumo, which cannot be "
                          "resumed: rerun without --resume",
                          path);
        goto done;
    }
    if (!(at = find_sum(buf, n))) {
        rc = pn_error_set(err, PN_E_FORMAT,
                          "checkpoint %s: not a pneumo checkpoint (no checksum_sha256; corrupt?)",
                          path);
        goto done;
    }
    file_sum(buf, n, at, hex);
    if (memcmp(hex, at, 64)) {
        rc = pn_error_set(err, PN_E_FORMAT, "checkpoint %s: checksum mismatch (corrupt file)",
                          path);
        goto done;
    }
    rc = pn_safetensors_load_mem(buf, n, path, &sd, err);
    if (rc) goto done;
    if (strcmp(meta(&sd, "format"), "pneumo-checkpoint") ||
        strcmp(meta(&sd, "version"), CK_VERSION)) {
        rc = pn_error_set(err, PN_E_FORMAT,
                          "checkpoint %s: not a pneumo checkpoint (format version %s)", path,
                          CK_VERSION);
        goto done;
    }
    if (strcmp(meta(&sd, "kind"), t->kind)) {
        rc = pn_error_set(err, PN_E_FORMAT, "%s: not a pneumo --freeze %s checkpoint (a --freeze %s one?)",
                          path, strcmp(t->kind, "head") ? "layer4/layer3/none" : "fc",
                          meta(&sd, "freeze"));
        goto done;
    }
    if (strcmp(meta(&sd, "freeze"), t->level) || atoi(meta(&sd, "classes")) != t->classes) {
        rc = pn_error_set(err, PN_E_FORMAT,
                          "checkpoint %s: made for another model or Adam layout (--freeze %s, %s "
                          "classes; this run: --freeze %s, %d classes)",
                          path, meta(&sd, "freeze"), meta(&sd, "classes"), t->level, t->classes);
        goto done;
    }
    rc = state_dict(t, NULL, &want, err);
    if (rc) goto done;
    if ((bad = mismatch(&want, &sd))) {
        rc = pn_error_set(err, PN_E_FORMAT,
                          "checkpoint %s: made for another model or Adam layout (%s differs)",
                          path, bad);
        goto done;
    }
    st->classes = t->classes;
    rc = read_meta(path, &sd, st, hist_cap, err);
    if (rc) goto done;
    const int64_t *r = pn_statedict_findc(&sd, "rng.mt19937")->data;
    if (r[PN_MT_N] < 0 || r[PN_MT_N] > PN_MT_N) {
        rc = pn_error_set(err, PN_E_FORMAT, "checkpoint %s: bad generator state", path);
        goto done;
    }
    for (int i = 0; i < PN_MT_N; i++) st->rng.state[i] = (uint32_t)r[i];
    st->rng.left = (int)r[PN_MT_N];
    memcpy(&st->rng.seed, &r[PN_MT_N + 1], 8);
    pn_statedict_remove(&sd, "rng.mt19937"); /* the rest is the trainer's */
    rc = t->import_state(t->ctx, &sd, st->step, err);
    if (rc) pn_error_prefix(err, "checkpoint %s: ", path);
done:
    pn_statedict_free(&sd);
    pn_statedict_free(&want);
    free(buf);
    return rc;
}
