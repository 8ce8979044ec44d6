/* The growable byte buffer of core/buf.h. */
#include "core/buf.h"

#include <stdlib.h>
#include <string.h>

void pn__iobuf_put(pn__iobuf *b, const void *s, size_t n)
{
    if (b->oom) return;
    if (n > SIZE_MAX / 4 - b->n) {
        b->oom = 1;
        return;
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, s, n);
    b->n += n;
}

void pn__iobuf_str(pn__iobuf *b, const char *s) { pn__iobuf_put(b, s, strlen(s)); }
