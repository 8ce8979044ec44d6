/* Fixture access for the training tests: PyTorch tensors dumped by
 * tests/pytorch/make_train_fixtures.py, read with pn_safetensors_load(). */
#ifndef PNEUMO_TRAIN_ST_H
#define PNEUMO_TRAIN_ST_H

#include <stdint.h>

#include "pneumo/tensor.h"
#include "pneumo/weights.h"

typedef struct st_file {
    pn_statedict sd;
} st_file;

static void st_load(st_file *f, const char *path)
{
    pn_error err = {0};
    if (pn_safetensors_load(path, &f->sd, &err))
        fail_msg("fixture %s: %s (rerun tests/pytorch/make_train_fixtures.py)", path, err.msg);
}

static void st_free(st_file *f) { pn_statedict_free(&f->sd); }

/* the tensor's data (float32 or int64 in memory); *numel set; dtype checked */
static const void *st_get(const st_file *f, const char *name, pn_dtype dtype, size_t *numel)
{
    const pn_tensor *t = pn_statedict_findc(&f->sd, name);
    if (!t) fail_msg("fixture tensor %s missing", name);
    if (t->dtype != dtype) fail_msg("fixture tensor %s has dtype %s", name, pn_dtype_name(t->dtype));
    *numel = t->numel;
    return t->data;
}
#define st_f32(f, name, n) ((const float *)st_get((f), (name), PN_F32, (n)))
#define st_i64(f, name, n) ((const int64_t *)st_get((f), (name), PN_I64, (n)))

#endif
