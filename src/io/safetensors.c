/* safetensors reader (mmap, fully validated) and byte-stable writer.
 *
 * File: u64 little-endian N, N bytes of JSON
 *   {"__metadata__": {str: str}, "name": {"dtype": "F32", "shape": [..],
 *    "data_offsets": [begin, end]}, ...}
 * then the data buffer; offsets are relative to it, end exclusive. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"

#define ST_MAX_HEADER 100000000ull
#define ST_MAX_EXACT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact */

typedef struct st_dtype {
    const char *name;
    size_t size;
    int supported;
    pn_dtype dt;
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4, 1, PN_F32},   {"F16", 2, 1, PN_F16},      {"BF16", 2, 1, PN_BF16},
    {"F64", 8, 1, PN_F64},   {"I64", 8, 1, PN_I64},      {"I32", 4, 1, PN_I32},
    {"U8", 1, 1, PN_U8},     {"I8", 1, 1, PN_I8},        {"BOOL", 1, 1, PN_BOOL},
    {"I16", 2, 0, PN_F32},   {"U16", 2, 0, PN_F32},      {"U32", 4, 0, PN_F32},
    {"U64", 8, 0, PN_F32},   {"F8_E5M2", 1, 0, PN_F32}, {"F8_E4M3", 1, 0, PN_F32},
};

typedef struct st_entry {
    const char *name; /* points into the cJSON tree */
    const st_dtype *dt;
    int ndim;
    int64_t shape[PN_MAX_DIMS];
    size_t numel;
    uint64_t begin, end;
} st_entry;

static int json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d >= ST_MAX_EXACT || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static int cmp_offsets(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

/* Parses one tensor entry of the header. */
static pn_status parse_entry(const char *name, const cJSON *obj, st_entry *e, const char *file,
                             pn_error *err)
{
    e->name = name;
    if (!cJSON_IsObject(obj))
        return pn_error_set(err, PN_E_FORMAT, "%s: header entry '%s' is not an object", file, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(obj, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(obj, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(obj, "data_offsets");
    if (!cJSON_IsString(dt) || !cJSON_IsArray(sh) || !cJSON_IsArray(off))
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: tensor '%s' needs a string \"dtype\" and arrays \"shape\" and "
                            "\"data_offsets\"",
                            file, name);
    e->dt = NULL;
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(dt->valuestring, st_dtypes[i].name)) e->dt = &st_dtypes[i];
    if (!e->dt)
        return pn_error_set(err, PN_E_FORMAT, "%s: tensor '%s' has unknown dtype \"%.40s\"", file,
                            name, dt->valuestring);
    int nd = cJSON_GetArraySize(sh);
    if (nd > PN_MAX_DIMS)
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: tensor '%s' has %d dimensions (at most %d)",
                            file, name, nd, PN_MAX_DIMS);
    e->ndim = nd;
    int i = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, sh)
    {
        uint64_t v;
        if (json_u64(d, &v) != 0)
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: tensor '%s': shape entries must be non-negative integers "
                                "below 2^53",
                                file, name);
        e->shape[i++] = (int64_t)v;
    }
    if (cJSON_GetArraySize(off) != 2 || json_u64(cJSON_GetArrayItem(off, 0), &e->begin) ||
        json_u64(cJSON_GetArrayItem(off, 1), &e->end))
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: tensor '%s': data_offsets must be two non-negative integers", file,
                            name);
    int ovf = 0;
    e->numel = pn_shape_numel(e->ndim, e->shape, &ovf);
    if (ovf || (e->numel && e->dt->size > SIZE_MAX / e->numel))
        return pn_error_set(err, PN_E_FORMAT, "%s: tensor '%s': shape overflows", file, name);
    return PN_OK;
}

pn_status pn_safetensors_load_mem(const void *buf, size_t n, const char *file, pn_statedict *sd,
                                  pn_error *err)
{
    const uint8_t *p = buf;
    pn_statedict_init(sd);
    if (!file) file = "<memory>";
    if (n < 8)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: truncated: %zu bytes, a safetensors file has at least 8", file, n);
    uint64_t hlen = pn__le64(p);
    if (hlen > ST_MAX_HEADER)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: header size %llu is over the 100000000-byte limit (not a "
                            "safetensors file?)",
                            file, (unsigned long long)hlen);
    if (hlen > n - 8)
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: truncated: the header needs %llu bytes, only %zu follow the "
                            "8-byte size",
                            file, (unsigned long long)hlen, n - 8);
    const char *hdr = (const char *)p + 8;
    if (hlen < 2 || hdr[0] != '{')
        return pn_error_set(err, PN_E_FORMAT, "%s: header does not start with '{'", file);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return pn_error_set(err, PN_E_FORMAT, "%s: header is not a valid JSON object", file);
    }
    for (const char *q = end; q < hdr + hlen; q++) {
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            return pn_error_set(err, PN_E_FORMAT, "%s: garbage after the header's JSON object",
                                file);
        }
    }
    pn_status st = PN_OK;
    size_t nkeys = (size_t)cJSON_GetArraySize(root);
    st_entry *ents = calloc(nkeys ? nkeys : 1, sizeof *ents);
    st_entry **sorted = calloc(nkeys ? nkeys : 1, sizeof *sorted);
    const char **names = calloc(nkeys ? nkeys : 1, sizeof *names);
    if (!ents || !sorted || !names) {
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory for %zu header entries", file, nkeys);
        goto done;
    }
    size_t nt = 0, nn = 0;
    const cJSON *meta = NULL;
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        if (!it->string) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: header entry without a name", file);
            goto done;
        }
        names[nn++] = it->string;
        if (!strcmp(it->string, "__metadata__")) {
            meta = it;
            continue;
        }
        if ((st = parse_entry(it->string, it, &ents[nt], file, err))) goto done;
        sorted[nt] = &ents[nt];
        nt++;
    }
    const char *dup = NULL;
    int d = pn__io_find_duplicate(names, nn, &dup);
    if (d) {
        st = d < 0 ? pn_error_set(err, PN_E_NOMEM, "%s: out of memory", file)
                   : pn_error_set(err, PN_E_FORMAT, "%s: header names '%s' twice", file, dup);
        goto done;
    }
    if (meta) {
        if (!cJSON_IsObject(meta)) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: __metadata__ is not an object", file);
            goto done;
        }
        cJSON_ArrayForEach(it, meta)
        {
            if (!cJSON_IsString(it)) {
                st = pn_error_set(err, PN_E_FORMAT, "%s: metadata '%s' is not a string", file,
                                  it->string ? it->string : "?");
                goto done;
            }
        }
    }
    /* offsets: contiguous from 0, sizes exact, end of last == buffer size */
    qsort(sorted, nt, sizeof *sorted, cmp_offsets);
    uint64_t pos = 0;
    for (size_t i = 0; i < nt; i++) {
        st_entry *e = sorted[i];
        if (e->begin != pos || e->end < e->begin) {
            st = pn_error_set(err, PN_E_FORMAT,
                              "%s: tensor '%s': data_offsets [%llu, %llu] are not contiguous "
                              "(expected to start at %llu)",
                              file, e->name, (unsigned long long)e->begin,
                              (unsigned long long)e->end, (unsigned long long)pos);
            goto done;
        }
        uint64_t want = (uint64_t)e->numel * e->dt->size;
        if (e->end - e->begin != want) {
            char sbuf[160];
            st = pn_error_set(err, PN_E_FORMAT,
                              "%s: tensor '%s': %s %s needs %llu bytes but data_offsets give %llu",
                              file, e->name, e->dt->name,
                              pn_shape_str(e->ndim, e->shape, sbuf, sizeof sbuf),
                              (unsigned long long)want, (unsigned long long)(e->end - e->begin));
            goto done;
        }
        pos = e->end;
    }
    uint64_t avail = (uint64_t)n - 8 - hlen;
    if (pos != avail) {
        st = pn_error_set(err, PN_E_FORMAT,
                          pos > avail ? "%s: truncated: tensor data runs past the end of the "
                                        "file (needs %llu bytes after the header, has %llu)"
                                      : "%s: file has trailing bytes: tensors take %llu bytes "
                                        "after the header, the file has %llu",
                          file, (unsigned long long)pos, (unsigned long long)avail);
        goto done;
    }
    for (size_t i = 0; i < nt; i++) {
        if (!ents[i].dt->supported) {
            st = pn_error_set(err, PN_E_UNSUPPORTED,
                              "%s: tensor '%s' has dtype %s (supported: F32, F16, BF16, F64, "
                              "I64, I32, U8, I8, BOOL)",
                              file, ents[i].name, ents[i].dt->name);
            goto done;
        }
    }
    const uint8_t *data = p + 8 + hlen;
    for (size_t i = 0; i < nt; i++) {
        st_entry *e = &ents[i];
        st = pn__io_sd_push(sd, e->name, e->dt->dt, e->ndim, e->shape, e->numel, data + e->begin,
                           err);
        if (st) {
            pn_error_prefix(err, "%s: ", file);
            goto done;
        }
    }
    if (meta) {
        cJSON_ArrayForEach(it, meta)
        {
            if ((st = pn_statedict_set_meta(sd, it->string, it->valuestring, err))) goto done;
        }
    }
    st = pn__io_verify(sd, file, err);
done:
    free(ents);
    free(sorted);
    free(names);
    cJSON_Delete(root);
    if (st) pn_statedict_free(sd);
    return st;
}

pn_status pn_safetensors_load(const char *path, pn_statedict *sd, pn_error *err)
{
    return pn__io_load_path(path, pn_safetensors_load_mem, sd, err);
}

/* ---- writer ---------------------------------------------------------------- */

static void sb_fmt(pn__iobuf *b, const char *fmt, unsigned long long v)
{
    char t[32];
    int k = snprintf(t, sizeof t, fmt, v);
    pn__iobuf_put(b, t, (size_t)k);
}
/* JSON string, escaped as serde_json does. */
static void sb_json(pn__iobuf *b, const char *s)
{
    pn__iobuf_put(b, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        char t[8];
        switch (*c) {
        case '"': pn__iobuf_put(b, "\\\"", 2); break;
        case '\\': pn__iobuf_put(b, "\\\\", 2); break;
        case '\b': pn__iobuf_put(b, "\\b", 2); break;
        case '\f': pn__iobuf_put(b, "\\f", 2); break;
        case '\n': pn__iobuf_put(b, "\\n", 2); break;
        case '\r': pn__iobuf_put(b, "\\r", 2); break;
        case '\t': pn__iobuf_put(b, "\\t", 2); break;
        default:
            if (*c < 0x20) {
                snprintf(t, sizeof t, "\\u%04x", *c);
                pn__iobuf_put(b, t, 6);
            } else {
                pn__iobuf_put(b, (const char *)c, 1);
            }
        }
    }
    pn__iobuf_put(b, "\"", 1);
}

static int cmp_write_order(const void *a, const void *b)
{
    const pn_tensor *x = *(const pn_tensor *const *)a, *y = *(const pn_tensor *const *)b;
    /* reference writer: dtype descending in its enum order (I64 > F32) */
    int rx = x->dtype == PN_I64, ry = y->dtype == PN_I64;
    if (rx != ry) return ry - rx;
    return strcmp(x->name, y->name);
}

static int cmp_meta(const void *a, const void *b)
{
    return strcmp((*(const pn_meta *const *)a)->key, (*(const pn_meta *const *)b)->key);
}

pn_status pn_safetensors_save(const char *path, const pn_statedict *sd, pn_error *err)
{
    pn_status st = PN_OK;
    pn__iobuf h = {0};
    const pn_tensor **order = calloc(sd->n ? sd->n : 1, sizeof *order);
    const pn_meta **mord = calloc(sd->nmeta ? sd->nmeta : 1, sizeof *mord);
    if (!order || !mord) {
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < sd->n; i++) {
        const pn_tensor *t = &sd->t[i];
        if (t->dtype != PN_F32 && t->dtype != PN_I64) {
            st = pn_error_set(err, PN_E_ARG, "%s: tensor '%s' is %s in memory (float32 or int64 "
                              "expected)", path, t->name, pn_dtype_name(t->dtype));
            goto done;
        }
        if (!strcmp(t->name, "__metadata__")) {
            st = pn_error_set(err, PN_E_ARG, "%s: a tensor cannot be named __metadata__", path);
            goto done;
        }
        order[i] = t;
    }
    qsort(order, sd->n, sizeof *order, cmp_write_order);
    for (size_t i = 1; i < sd->n; i++) {
        if (!strcmp(order[i - 1]->name, order[i]->name) && order[i - 1]->dtype == order[i]->dtype) {
            st = pn_error_set(err, PN_E_ARG, "%s: tensor '%s' appears twice", path, order[i]->name);
            goto done;
        }
    }
    for (size_t i = 0; i < sd->nmeta; i++) mord[i] = &sd->meta[i];
    qsort(mord, sd->nmeta, sizeof *mord, cmp_meta);

    pn__iobuf_str(&h, "{");
    if (sd->nmeta) {
        pn__iobuf_str(&h, "\"__metadata__\":{");
        for (size_t i = 0; i < sd->nmeta; i++) {
            if (i) pn__iobuf_str(&h, ",");
            sb_json(&h, mord[i]->key);
            pn__iobuf_str(&h, ":");
            sb_json(&h, mord[i]->value);
        }
        pn__iobuf_str(&h, "}");
    }
    uint64_t off = 0;
    for (size_t i = 0; i < sd->n; i++) {
        const pn_tensor *t = order[i];
        if (i || sd->nmeta) pn__iobuf_str(&h, ",");
        sb_json(&h, t->name);
        pn__iobuf_str(&h, t->dtype == PN_I64 ? ":{\"dtype\":\"I64\",\"shape\":[" : ":{\"dtype\":\"F32\",\"shape\":[");
        for (int k = 0; k < t->ndim; k++) sb_fmt(&h, k ? ",%llu" : "%llu", (unsigned long long)t->shape[k]);
        uint64_t nb = (uint64_t)t->numel * pn_dtype_size(t->dtype);
        sb_fmt(&h, "],\"data_offsets\":[%llu", (unsigned long long)off);
        sb_fmt(&h, ",%llu]}", (unsigned long long)(off + nb));
        off += nb;
    }
    pn__iobuf_str(&h, "}");
    while (!h.oom && h.n % 8) pn__iobuf_str(&h, " ");
    if (h.oom) {
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory building the header", path);
        goto done;
    }
    pn_afile af;
    if ((st = pn_afile_open(&af, path, err))) goto done;
    uint8_t len8[8];
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)((uint64_t)h.n >> (8 * k));
    fwrite(len8, 1, 8, af.f);
    fwrite(h.p, 1, h.n, af.f);
    for (size_t i = 0; i < sd->n; i++)
        if (order[i]->numel)
            fwrite(order[i]->data, pn_dtype_size(order[i]->dtype), order[i]->numel, af.f);
    st = pn_afile_commit(&af, err);
done:
    free(order);
    free(mord);
    free(h.p);
    return st;
}
