/* A minimal, safe pickle reader for PyTorch state_dicts (internal).
 *
 * It implements only the opcodes torch.save emits for a state_dict
 * (protocol 2, plus the few protocol-4 framing/memo opcodes) and knows a
 * fixed whitelist of globals; any other global is refused with its name.
 * It never calls anything: the whitelisted globals are interpreted by
 * hand (OrderedDict() -> dict, _rebuild_tensor_v2 -> tensor record,
 * _rebuild_parameter -> its tensor, torch.*Storage -> a dtype). */
#ifndef PNEUMO_IO_PICKLE_H
#define PNEUMO_IO_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"
#include "pneumo/tensor.h"

typedef enum pn__pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_BIGINT, PK_FLOAT, PK_STR,
    PK_TUPLE, PK_LIST, PK_DICT, PK_GLOBAL, PK_STORAGE, PK_TENSOR,
} pn__pk_kind;

typedef enum pn__pk_global {
    PKG_ORDEREDDICT = 1, PKG_REBUILD_TENSOR_V2, PKG_REBUILD_PARAMETER,
    PKG_REBUILD_PARAMETER_STATE, PKG_STORAGE,
} pn__pk_global;

#define PK_DTYPE_UNSUPPORTED (-1)

typedef struct pn__pk_value pn__pk_value;
struct pn__pk_value {
    uint8_t kind;   /* pn__pk_kind */
    uint8_t global; /* PK_GLOBAL: pn__pk_global */
    int8_t dtype;   /* PK_GLOBAL storage type / PK_STORAGE: pn_dtype or PK_DTYPE_UNSUPPORTED */
    union {
        int64_t i;                                   /* PK_INT, PK_BOOL */
        double f;                                    /* PK_FLOAT */
        struct { char *s; size_t len; } str;         /* PK_STR (NUL-terminated), PK_BIGINT (LE bytes) */
        struct { pn__pk_value **v; size_t n, cap; } seq; /* tuple, list; dict: key,value,key,value... */
        struct { const char *key; const char *type; int64_t numel; } storage;
        struct {
            const pn__pk_value *storage;
            int64_t offset; /* in elements */
            int ndim;
            int64_t shape[PN_MAX_DIMS], stride[PN_MAX_DIMS];
        } tensor;
    } u;
};

typedef struct pn__pk_vm {
    const char *file; /* for messages */
    pn_error *err;
    pn__pk_value **all; /* every value made, freed together */
    size_t nall, capall;
    pn__pk_value **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, capmarks;
    pn__pk_value **memo;
    size_t nmemo, capmemo; /* nmemo: highest index set + 1 */
} pn__pk_vm;

void pn__pk_init(pn__pk_vm *vm, const char *file, pn_error *err);
/* Runs one pickle from buf[0..n) up to its STOP; *used gets the bytes
 * consumed. *out points into the vm (valid until pn__pk_free). Values survive
 * between runs on the same vm (the legacy format is several pickles). */
pn_status pn__pk_run(pn__pk_vm *vm, const uint8_t *buf, size_t n, size_t *used, pn__pk_value **out);
void pn__pk_free(pn__pk_vm *vm);

const char *pn__pk_kind_name(int kind);
/* dict lookup by string key; NULL when absent. */
const pn__pk_value *pn__pk_dict_get(const pn__pk_value *d, const char *key);

#endif
