/* pneumo: named tensors and state dicts.
 *
 * A pn_statedict is the in-memory form of a PyTorch state_dict: an ordered
 * list of named tensors plus optional string metadata. It is what the file
 * readers (.pth, safetensors) produce and the writers consume, and what the
 * model loads its weights from. Floating tensors are always held as float32
 * (f16/bf16/f64 in a file are converted on read, the file dtype is kept in
 * `file_dtype`); integer tensors as int64.
 */
#ifndef PNEUMO_TENSOR_H
#define PNEUMO_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_dtype {
    PN_F32 = 0,
    PN_F16,
    PN_BF16,
    PN_F64,
    PN_I64,
    PN_I32,
    PN_U8,
    PN_I8,
    PN_BOOL,
} pn_dtype;

#define PN_MAX_DIMS 8
/* The most classes a pneumo classifier, data set statistics or checkpoint
 * supports (the only definition). */
#define PN_MAX_CLASSES 16

typedef struct pn_tensor {
    char *name;                  /* owned, NUL-terminated */
    pn_dtype dtype;              /* PN_F32 or PN_I64 in memory (see above) */
    pn_dtype file_dtype;         /* dtype it had in the file it came from */
    int ndim;                    /* 0 for a scalar */
    int64_t shape[PN_MAX_DIMS];
    void *data;                  /* owned; float* for PN_F32, int64_t* for PN_I64 */
    size_t numel;
} pn_tensor;

typedef struct pn_meta {
    char *key, *value;           /* owned */
} pn_meta;

typedef struct pn_statedict {
    pn_tensor *t;
    size_t n, cap;
    pn_meta *meta;
    size_t nmeta, capmeta;
} pn_statedict;

/* Size in bytes of one element of dtype (0 for an unknown dtype). */
size_t pn_dtype_size(pn_dtype dt);
/* Lower-case PyTorch-like name ("float32", "int64", ...). */
const char *pn_dtype_name(pn_dtype dt);

void pn_statedict_init(pn_statedict *sd);
void pn_statedict_free(pn_statedict *sd);

/* Add a tensor (name and data are copied). dtype must be PN_F32 or PN_I64.
 * data may be NULL to get a zero-filled tensor. On success *out (if non-NULL)
 * points at the stored tensor; it stays valid until the next add. A name
 * already present is an error (PN_E_ARG). */
pn_status pn_statedict_add(pn_statedict *sd, const char *name, pn_dtype dtype,
                           int ndim, const int64_t *shape, const void *data,
                           pn_tensor **out, pn_error *err);

/* Find a tensor by exact name; NULL when absent. */
pn_tensor *pn_statedict_find(const pn_statedict *sd, const char *name);
const pn_tensor *pn_statedict_findc(const pn_statedict *sd, const char *name);

/* Remove a tensor by name; returns 1 if one was removed. Keeps order. */
int pn_statedict_remove(pn_statedict *sd, const char *name);

/* Metadata: set (replacing any old value) and get (NULL when absent). */
pn_status pn_statedict_set_meta(pn_statedict *sd, const char *key, const char *value,
                                pn_error *err);
const char *pn_statedict_get_meta(const pn_statedict *sd, const char *key);

/* SHA-256 of the tensors (not the metadata), independent of their order and
 * of the file format they came from: over the tensors sorted by name
 * (bytewise), the bytes "pneumo-tensors-v1\0", then per tensor its name and
 * NUL, its in-memory dtype name ("float32"/"int64") and NUL, ndim and each
 * dimension as little-endian uint64, then the element bytes little-endian.
 * pneumo stores it in the metadata of every model file it writes
 * ("pneumo.tensors_sha256") and checks it on load. */
pn_status pn_statedict_sha256(const pn_statedict *sd, uint8_t out[32], pn_error *err);

/* Format a shape as "[64, 3, 7, 7]" into buf. Returns buf. */
char *pn_shape_str(int ndim, const int64_t *shape, char *buf, size_t bufsize);

/* Number of elements of a shape; returns 0 and sets *overflow on overflow
 * (or a negative dimension). overflow may be NULL. */
size_t pn_shape_numel(int ndim, const int64_t *shape, int *overflow);

#ifdef __cplusplus
}
#endif
#endif
