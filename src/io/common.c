/* Shared helpers of the weight-file code: mmap, dtype conversion, fast
 * state_dict appends. */
#include "io/io_internal.h"
#include "pneumo/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

pn_status pn__io_map(const char *path, pn__mapped *m, pn_error *err)
{
    m->data = NULL;
    m->size = 0;
    int fd;
    uint64_t size;
    pn_status ost = pn_open_regular(path, &fd, &size, err);
    if (ost) return ost;
    if (size == 0) {
        close(fd);
        return PN_OK;
    }
    void *p = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return pn_error_set(err, PN_E_IO, "%s: cannot mmap: %s", path, strerror(e));
    m->data = p;
    m->size = (size_t)size;
    return PN_OK;
}

void pn__io_unmap(pn__mapped *m)
{
    if (m->data) munmap((void *)m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

float pn__half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* inf / nan (payload kept) */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal half: normalise */
        int e = -1;
        do {
            e++;
            man <<= 1;
        } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float pn__bf16_to_float(uint16_t b)
{
    uint32_t bits = (uint32_t)b << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

pn_dtype pn__io_mem_dtype(pn_dtype fdt)
{
    switch (fdt) {
    case PN_F32: case PN_F16: case PN_BF16: case PN_F64: return PN_F32;
    default: return PN_I64;
    }
}

int pn__io_convert(pn_dtype fdt, const uint8_t *src, size_t n, void *dst)
{
    float *f = dst;
    int64_t *q = dst;
    switch (fdt) {
    case PN_F32: memcpy(dst, src, n * 4); break;
    case PN_F16: for (size_t i = 0; i < n; i++) f[i] = pn__half_to_float(pn__le16(src + 2 * i)); break;
    case PN_BF16: for (size_t i = 0; i < n; i++) f[i] = pn__bf16_to_float(pn__le16(src + 2 * i)); break;
    case PN_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, 8);
            f[i] = (float)d; /* round to nearest, as torch's .float() */
        }
        break;
    case PN_I64: memcpy(dst, src, n * 8); break;
    case PN_I32:
        for (size_t i = 0; i < n; i++) q[i] = (int32_t)pn__le32(src + 4 * i);
        break;
    case PN_U8: for (size_t i = 0; i < n; i++) q[i] = src[i]; break;
    case PN_I8: for (size_t i = 0; i < n; i++) q[i] = (int8_t)src[i]; break;
    case PN_BOOL:
        for (size_t i = 0; i < n; i++) {
            if (src[i] > 1) return -1;
            q[i] = src[i];
        }
        break;
    }
    return 0;
}

pn_status pn__io_sd_push(pn_statedict *sd, const char *name, pn_dtype fdt, int ndim,
                        const int64_t *shape, size_t numel, const uint8_t *src, pn_error *err)
{
    if (ndim < 0 || ndim > PN_MAX_DIMS)
        return pn_error_set(err, PN_E_UNSUPPORTED, "tensor '%s': %d dimensions (at most %d)", name,
                            ndim, PN_MAX_DIMS);
    pn_tensor *t;
    pn_status st = pn_statedict_add(sd, name, pn__io_mem_dtype(fdt), ndim, shape, NULL, &t, err);
    if (st) return st;
    if (t->numel != numel) { /* the callers compute numel from the same shape */
        pn_statedict_remove(sd, name);
        return pn_error_set(err, PN_E_FORMAT, "tensor '%s': %zu elements for its shape", name,
                            numel);
    }
    if (numel && pn__io_convert(fdt, src, numel, t->data) != 0) {
        pn_statedict_remove(sd, name);
        return pn_error_set(err, PN_E_FORMAT, "tensor '%s': bool data holds a byte other than 0/1",
                            name);
    }
    t->file_dtype = fdt;
    return PN_OK;
}

static int cmp_strp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int pn__io_find_duplicate(const char *const *names, size_t n, const char **dup)
{
    if (n < 2) return 0;
    const char **s = malloc(n * sizeof *s);
    if (!s) return -1;
    memcpy(s, names, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_strp);
    int found = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(s[i - 1], s[i]) == 0) {
            if (dup) *dup = s[i];
            found = 1;
            break;
        }
    }
    free(s);
    return found;
}

pn_status pn__io_load_path(const char *path, pn__io_mem_loader load, pn_statedict *sd,
                          pn_error *err)
{
    pn_statedict_init(sd);
    pn__mapped m;
    pn_status st = pn__io_map(path, &m, err);
    if (st) return st;
    st = load(m.data, m.size, path, sd, err);
    pn__io_unmap(&m);
    return st;
}
