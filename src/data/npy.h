/* NumPy .npy parsing (private to src/data). */
#ifndef PNEUMO_NPY_H
#define PNEUMO_NPY_H
#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"

#define PN_NPY_MAXDIM 8
typedef struct pn_npy {
    int elem; /* bytes per element: 1 (|u1) or 8 (<i8) */
    int ndim;
    size_t shape[PN_NPY_MAXDIM];
    size_t numel;
    const uint8_t *data; /* points into the parsed buffer */
} pn_npy;

pn_status pn__npy_parse(const uint8_t *buf, size_t n, const char *what, pn_npy *out,
                        pn_error *err);
#endif
