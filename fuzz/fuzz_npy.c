/* libFuzzer target: the strict .npy header parser (src/data/npy.c).
 * Built by `make fuzz` (src/data/npy.o + libpneumo_core.a); seeds: fuzz/corpus/npy. */
#include <stdint.h>
#include <stdlib.h>

#include "data/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pn_npy a;
    pn_error err;
    if (pn__npy_parse(data, size, "fuzz.npy", &a, &err) == PN_OK) {
        /* the data the parser vouches for must be readable */
        volatile uint8_t s = 0;
        for (size_t i = 0; i < a.numel * (size_t)a.elem; i++) s ^= a.data[i];
        (void)s;
    }
    return 0;
}
