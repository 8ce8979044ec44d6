/* Named tensors and state dicts: see include/pneumo/tensor.h. */
#include "pneumo/tensor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t pn_dtype_size(pn_dtype dt)
{
    switch (dt) {
    case PN_F32: case PN_I32: return 4;
    case PN_F16: case PN_BF16: return 2;
    case PN_F64: case PN_I64: return 8;
    case PN_U8: case PN_I8: case PN_BOOL: return 1;
    }
    return 0;
}

const char *pn_dtype_name(pn_dtype dt)
{
    switch (dt) {
    case PN_F32: return "float32";
    case PN_F16: return "float16";
    case PN_BF16: return "bfloat16";
    case PN_F64: return "float64";
    case PN_I64: return "int64";
    case PN_I32: return "int32";
    case PN_U8: return "uint8";
    case PN_I8: return "int8";
    case PN_BOOL: return "bool";
    }
    return "unknown";
}

size_t pn_shape_numel(int ndim, const int64_t *shape, int *overflow)
{
    size_t n = 1;
    if (overflow) *overflow = 0;
    if (ndim < 0 || ndim > PN_MAX_DIMS) goto bad;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) goto bad;
        if (shape[i] == 0) return 0;
        size_t d = (size_t)shape[i];
        if ((uint64_t)shape[i] > SIZE_MAX || n > SIZE_MAX / d) goto bad;
        n *= d;
    }
    return n;
bad:
    if (overflow) *overflow = 1;
    return 0;
}

char *pn_shape_str(int ndim, const int64_t *shape, char *buf, size_t bufsize)
{
    size_t used = 0;
    if (!bufsize) return buf;
    buf[0] = '\0';
    used += (size_t)snprintf(buf, bufsize, "[");
    for (int i = 0; i < ndim && used < bufsize; i++)
        used += (size_t)snprintf(buf + used, bufsize - used, i ? ", %lld" : "%lld",
                                 (long long)shape[i]);
    if (used < bufsize) snprintf(buf + used, bufsize - used, "]");
    return buf;
}

void pn_statedict_init(pn_statedict *sd)
{
    memset(sd, 0, sizeof *sd);
}

void pn_statedict_free(pn_statedict *sd)
{
    if (!sd) return;
    for (size_t i = 0; i < sd->n; i++) {
        free(sd->t[i].name);
        free(sd->t[i].data);
    }
    for (size_t i = 0; i < sd->nmeta; i++) {
        free(sd->meta[i].key);
        free(sd->meta[i].value);
    }
    free(sd->t);
    free(sd->meta);
    memset(sd, 0, sizeof *sd);
}

pn_tensor *pn_statedict_find(const pn_statedict *sd, const char *name)
{
    for (size_t i = 0; i < sd->n; i++)
        if (strcmp(sd->t[i].name, name) == 0) return &sd->t[i];
    return NULL;
}

const pn_tensor *pn_statedict_findc(const pn_statedict *sd, const char *name)
{
    return pn_statedict_find(sd, name);
}

pn_status pn_statedict_add(pn_statedict *sd, const char *name, pn_dtype dtype,
                           int ndim, const int64_t *shape, const void *data,
                           pn_tensor **out, pn_error *err)
{
    if (dtype != PN_F32 && dtype != PN_I64)
        return pn_error_set(err, PN_E_ARG, "tensor '%s': in-memory dtype must be float32 or int64",
                            name);
    if (ndim < 0 || ndim > PN_MAX_DIMS)
        return pn_error_set(err, PN_E_ARG, "tensor '%s': %d dimensions (at most %d)", name, ndim,
                            PN_MAX_DIMS);
    if (pn_statedict_find(sd, name))
        return pn_error_set(err, PN_E_ARG, "tensor '%s' appears twice", name);
    int ovf = 0;
    size_t numel = pn_shape_numel(ndim, shape, &ovf);
    size_t esz = pn_dtype_size(dtype);
    if (ovf || (numel && esz > SIZE_MAX / numel))
        return pn_error_set(err, PN_E_ARG, "tensor '%s': shape overflows", name);
    if (sd->n == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 16;
        pn_tensor *t = realloc(sd->t, cap * sizeof *t);
        if (!t) return pn_error_set(err, PN_E_NOMEM, "out of memory adding tensor '%s'", name);
        sd->t = t;
        sd->cap = cap;
    }
    pn_tensor *t = &sd->t[sd->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    t->data = calloc(numel ? numel : 1, esz);
    if (!t->name || !t->data) {
        free(t->name);
        free(t->data);
        return pn_error_set(err, PN_E_NOMEM, "out of memory for tensor '%s' (%zu elements)", name,
                            numel);
    }
    if (data && numel) memcpy(t->data, data, numel * esz);
    t->dtype = dtype;
    t->file_dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    sd->n++;
    if (out) *out = t;
    return PN_OK;
}

int pn_statedict_remove(pn_statedict *sd, const char *name)
{
    for (size_t i = 0; i < sd->n; i++) {
        if (strcmp(sd->t[i].name, name) == 0) {
            free(sd->t[i].name);
            free(sd->t[i].data);
            memmove(&sd->t[i], &sd->t[i + 1], (sd->n - i - 1) * sizeof *sd->t);
            sd->n--;
            return 1;
        }
    }
    return 0;
}

pn_status pn_statedict_set_meta(pn_statedict *sd, const char *key, const char *value,
                                pn_error *err)
{
    char *v = strdup(value);
    if (!v) return pn_error_set(err, PN_E_NOMEM, "out of memory for metadata '%s'", key);
    for (size_t i = 0; i < sd->nmeta; i++) {
        if (strcmp(sd->meta[i].key, key) == 0) {
            free(sd->meta[i].value);
            sd->meta[i].value = v;
            return PN_OK;
        }
    }
    if (sd->nmeta == sd->capmeta) {
        size_t cap = sd->capmeta ? sd->capmeta * 2 : 8;
        pn_meta *m = realloc(sd->meta, cap * sizeof *m);
        if (!m) {
            free(v);
            return pn_error_set(err, PN_E_NOMEM, "out of memory for metadata '%s'", key);
        }
        sd->meta = m;
        sd->capmeta = cap;
    }
    char *k = strdup(key);
    if (!k) {
        free(v);
        return pn_error_set(err, PN_E_NOMEM, "out of memory for metadata '%s'", key);
    }
    sd->meta[sd->nmeta].key = k;
    sd->meta[sd->nmeta].value = v;
    sd->nmeta++;
    return PN_OK;
}

const char *pn_statedict_get_meta(const pn_statedict *sd, const char *key)
{
    for (size_t i = 0; i < sd->nmeta; i++)
        if (strcmp(sd->meta[i].key, key) == 0) return sd->meta[i].value;
    return NULL;
}
