/* A growable byte buffer (private to pneumo): the writers of .pth, safetensors
 * and ONNX files, and in-memory PNGs, build their bytes in one. After a failed
 * allocation it stops growing and sets oom: check that once, at the end. Free
 * p when done. */
#ifndef PN_CORE_BUF_H
#define PN_CORE_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct pn__iobuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} pn__iobuf;

void pn__iobuf_put(pn__iobuf *b, const void *s, size_t n);
void pn__iobuf_str(pn__iobuf *b, const char *s);

#endif
