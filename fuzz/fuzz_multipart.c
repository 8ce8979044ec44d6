/* libFuzzer target: the multipart/form-data parser of pneumo serve
 * (src/serve/multipart.c). The first line of the input is the Content-Type
 * header value, the rest the body. Any input must return normally, and a
 * part found must lie inside the body.
 * Build: clang -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude
 *   -Isrc fuzz/fuzz_multipart.c src/serve/multipart.c src/core/status.c
 * seeds: fuzz/corpus/multipart. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size < 512 ? size : 512);
    size_t hl = nl ? (size_t)(nl - data) : 0;
    char ct[513];
    memcpy(ct, data, hl);
    ct[hl] = 0;
    const uint8_t *body = nl ? nl + 1 : data;
    size_t n = size - (size_t)(body - data);
    /* a copy of exactly n bytes, so that ASan sees any read past the body */
    uint8_t *b = malloc(n ? n : 1);
    if (!b) return 0;
    memcpy(b, body, n);
    const uint8_t *part;
    size_t pn;
    char type[64];
    pn_error err;
    if (pn__multipart_file(b, n, ct, &part, &pn, type, sizeof type, &err) == PN_OK)
        if (part < b || part + pn > b + n) abort();
    free(b);
    return 0;
}
