/* Tiny safetensors reader for the training tests' PyTorch fixtures (F32 and
 * I64 only). Stand-in until pn_safetensors_load() lands on main. */
#ifndef PNEUMO_TRAIN_ST_H
#define PNEUMO_TRAIN_ST_H

#include <cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/util.h"

typedef struct st_file {
    uint8_t *buf;
    size_t n;
    cJSON *hdr;
    const uint8_t *data;
} st_file;

static void st_load(st_file *f, const char *path)
{
    pn_error err = {0};
    if (pn_read_file(path, (size_t)1 << 28, &f->buf, &f->n, &err))
        fail_msg("fixture %s: %s (rerun tests/pytorch/make_train_fixtures.py)", path, err.msg);
    uint64_t hl;
    assert_true(f->n >= 8);
    memcpy(&hl, f->buf, 8);
    assert_true(8 + hl <= f->n);
    f->hdr = cJSON_ParseWithLength((const char *)f->buf + 8, (size_t)hl);
    assert_non_null(f->hdr);
    f->data = f->buf + 8 + hl;
}

static void st_free(st_file *f)
{
    cJSON_Delete(f->hdr);
    free(f->buf);
}

/* pointer to the tensor's bytes; *numel set; dtype checked */
static const void *st_get(const st_file *f, const char *name, const char *dtype, size_t *numel)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(f->hdr, name);
    if (!t) fail_msg("fixture tensor %s missing", name);
    const char *dt = cJSON_GetObjectItemCaseSensitive(t, "dtype")->valuestring;
    if (strcmp(dt, dtype)) fail_msg("fixture tensor %s is %s, want %s", name, dt, dtype);
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(t, "data_offsets");
    size_t b = (size_t)cJSON_GetArrayItem(off, 0)->valuedouble;
    size_t e = (size_t)cJSON_GetArrayItem(off, 1)->valuedouble;
    *numel = (e - b) / 4 / (strcmp(dtype, "I64") ? 1 : 2);
    return f->data + b;
}
#define st_f32(f, name, n) ((const float *)st_get((f), (name), "F32", (n)))
#define st_i64(f, name, n) ((const int64_t *)st_get((f), (name), "I64", (n)))

#endif
