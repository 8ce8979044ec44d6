/* The three fuzz entry points, shared by the libFuzzer targets
 * (fuzz/fuzz_*.c) and the corpus regression test (tests/test_weights_corpus.c).
 * Each must return normally for ANY input: errors are fine, crashes, leaks,
 * hangs and huge allocations are not. */
#ifndef PNEUMO_FUZZ_HARNESS_H
#define PNEUMO_FUZZ_HARNESS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"
#include "pneumo/tensor.h"
#include "pneumo/weights.h"

/* Pickles back to back (as in a legacy file), then the same bytes as the
 * body of a legacy .pth (after the magic/protocol/sys_info pickles), which
 * also runs the state_dict extraction and storage checks. */
static inline int fz_pickle(const uint8_t *data, size_t n)
{
    pn__pk_vm vm;
    pn__pk_init(&vm, "fuzz.pkl", NULL);
    size_t pos = 0, used = 0;
    pn__pk_value *out;
    while (pos < n && pn__pk_run(&vm, data + pos, n - pos, &used, &out) == PN_OK) pos += used;
    pn__pk_free(&vm);
    static const uint8_t head[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20,
                                   0x6a, 0xa8, 0x50, 0x19, '.',  0x80, 0x02, 'M',  0xe9, 0x03,
                                   '.',  0x80, 0x02, '}',  '.'};
    uint8_t *b = malloc(sizeof head + n);
    if (!b) return 0;
    memcpy(b, head, sizeof head);
    if (n) memcpy(b + sizeof head, data, n);
    pn_statedict sd;
    pn_error err;
    pn_pth_load_mem(b, sizeof head + n, "fuzz.pth", &sd, &err);
    pn_statedict_free(&sd);
    free(b);
    return 0;
}

static inline int fz_pth(const uint8_t *data, size_t n)
{
    pn_statedict sd;
    pn_error err;
    if (pn_pth_load_mem(data, n, "fuzz.pth", &sd, &err) == PN_OK) {
        int classes;
        pn_resnet18_check(&sd, 0, PN_R18_HEAD_OPTIONAL, &classes, &err);
    }
    pn_statedict_free(&sd);
    return 0;
}

static inline int fz_safetensors(const uint8_t *data, size_t n)
{
    pn_statedict sd;
    pn_error err;
    pn_safetensors_load_mem(data, n, "fuzz.safetensors", &sd, &err);
    pn_statedict_free(&sd);
    return 0;
}

#endif
