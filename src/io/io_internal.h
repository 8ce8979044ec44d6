/* Private helpers shared by the weight-file readers and writers (pn__ names;
 * pn__io_r18_names is implemented with the ResNet-18 table, src/model/arch.c). */
#ifndef PNEUMO_IO_INTERNAL_H
#define PNEUMO_IO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "pneumo/status.h"
#include "pneumo/tensor.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "pneumo's weight files code assumes a little-endian host"
#endif

/* A read-only whole-file mapping (mmap; an empty file maps to NULL/0). */
typedef struct pn__mapped {
    const uint8_t *data;
    size_t size;
} pn__mapped;
pn_status pn__io_map(const char *path, pn__mapped *m, pn_error *err);
void pn__io_unmap(pn__mapped *m);

/* The body of every pn_*_load(path): sd is initialised, path is mapped and
 * handed to `load` (one of the pn_*_load_mem readers), then unmapped. */
typedef pn_status (*pn__io_mem_loader)(const void *buf, size_t n, const char *name,
                                      pn_statedict *sd, pn_error *err);
pn_status pn__io_load_path(const char *path, pn__io_mem_loader load, pn_statedict *sd,
                          pn_error *err);

/* Little-endian loads from unaligned bytes. */
static inline uint16_t pn__le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t pn__le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t pn__le64(const uint8_t *p)
{
    return (uint64_t)pn__le32(p) | ((uint64_t)pn__le32(p + 4) << 32);
}


/* io/integrity.c: pneumo.tensors_sha256 + pneumo.metadata_sha256 into sd's
 * metadata (last, after every other key is set); their check on read (a
 * file without them passes; a mismatch is PN_E_FORMAT naming the file and
 * both hashes, unless pn_weights_verify_hashes(0)); every float tensor
 * finite (PN_E_NUMERIC naming the tensor). */
pn_status pn__io_seal(pn_statedict *sd, pn_error *err);
pn_status pn__io_verify(const pn_statedict *sd, const char *file, pn_error *err);
pn_status pn__io_check_finite(const pn_statedict *sd, const char *file, pn_error *err);

float pn__half_to_float(uint16_t h);
float pn__bf16_to_float(uint16_t b);

/* In-memory dtype a file dtype is converted to (PN_F32 or PN_I64). */
pn_dtype pn__io_mem_dtype(pn_dtype file_dtype);

/* Converts n little-endian elements of file dtype `fdt` at src (any
 * alignment) into dst (float* or int64_t* per pn__io_mem_dtype). Returns 0,
 * or -1 when a BOOL byte is not 0/1. */
int pn__io_convert(pn_dtype fdt, const uint8_t *src, size_t n, void *dst);

/* Appends a tensor through pn_statedict_add (in-memory dtype of fdt),
 * converting `numel` elements of file dtype `fdt` from src; PN_E_UNSUPPORTED
 * over PN_MAX_DIMS dimensions. The name is copied. */
pn_status pn__io_sd_push(pn_statedict *sd, const char *name, pn_dtype fdt, int ndim,
                        const int64_t *shape, size_t numel, const uint8_t *src, pn_error *err);

/* 1 if any two of the n names are equal (sorts a copy of the pointers);
 * *dup gets one of them. -1 when out of memory. */
int pn__io_find_duplicate(const char *const *names, size_t n, const char **dup);

/* ResNet-18 check of a const sd for writers: on success *names gets the
 * normalised key names in sd order (free each, then the array). */
pn_status pn__io_r18_names(const pn_statedict *sd, int num_classes, char ***names,
                          pn_error *err);

#endif
