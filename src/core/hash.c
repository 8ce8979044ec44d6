/* SHA-256 through OpenSSL's EVP interface, hex, and base64 (EVP_EncodeBlock). */
#include "pneumo/util.h"

#include <errno.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

pn_status pn_sha256_init(pn_sha256 *h, pn_error *err)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(c);
        h->ctx = NULL;
        return pn_error_set(err, PN_E_BACKEND, "SHA-256 initialisation failed");
    }
    h->ctx = c;
    return PN_OK;
}

void pn_sha256_update(pn_sha256 *h, const void *data, size_t n)
{
    if (h->ctx && n) EVP_DigestUpdate(h->ctx, data, n);
}

void pn_sha256_final(pn_sha256 *h, uint8_t out[32])
{
    unsigned int len = 32;
    memset(out, 0, 32);
    if (h->ctx) EVP_DigestFinal_ex(h->ctx, out, &len);
    pn_sha256_discard(h);
}

void pn_sha256_discard(pn_sha256 *h)
{
    EVP_MD_CTX_free(h->ctx);
    h->ctx = NULL;
}

void pn_sha256_buf(const void *data, size_t n, uint8_t out[32])
{
    pn_sha256 h;
    memset(out, 0, 32);
    if (pn_sha256_init(&h, NULL) != PN_OK) return;
    pn_sha256_update(&h, data, n);
    pn_sha256_final(&h, out);
}

pn_status pn_sha256_file(const char *path, uint8_t out[32], pn_error *err)
{
    int fd;
    pn_status ost = pn_open_regular(path, &fd, NULL, err);
    if (ost) return ost;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return pn_error_set(err, PN_E_NOMEM, "%s: cannot read: %s", path, strerror(e));
    }
    pn_sha256 h;
    pn_status st = pn_sha256_init(&h, err);
    if (st) {
        fclose(f);
        return st;
    }
    unsigned char buf[1 << 16];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) pn_sha256_update(&h, buf, got);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        pn_sha256_discard(&h);
        return pn_error_set(err, PN_E_IO, "%s: read error", path);
    }
    pn_sha256_final(&h, out);
    return PN_OK;
}

void pn_hex(const uint8_t *bytes, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[bytes[i] >> 4];
        out[2 * i + 1] = d[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

char *pn_base64(const void *data, size_t n)
{
    if (n > (size_t)INT_MAX / 4 * 3) return NULL; /* EVP_EncodeBlock takes an int */
    unsigned char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out) return NULL;
    EVP_EncodeBlock(out, data, (int)n); /* writes the NUL too */
    return (char *)out;
}

/* ---- SHA-256 of a state dict's tensors ---------------------------------- */
#include "pneumo/tensor.h"

static int cmp_tensor_name(const void *a, const void *b)
{
    const pn_tensor *x = *(const pn_tensor *const *)a, *y = *(const pn_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static void put_le64(pn_sha256 *h, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
    pn_sha256_update(h, b, 8);
}

pn_status pn_statedict_sha256(const pn_statedict *sd, uint8_t out[32], pn_error *err)
{
    memset(out, 0, 32);
    const pn_tensor **order = malloc((sd->n ? sd->n : 1) * sizeof *order);
    if (!order) return pn_error_set(err, PN_E_NOMEM, "out of memory hashing %zu tensors", sd->n);
    for (size_t i = 0; i < sd->n; i++) order[i] = &sd->t[i];
    qsort(order, sd->n, sizeof *order, cmp_tensor_name);
    pn_sha256 h;
    pn_status st = pn_sha256_init(&h, err);
    if (st) {
        free(order);
        return st;
    }
    pn_sha256_update(&h, "pneumo-tensors-v1", 18); /* with its NUL */
    for (size_t i = 0; i < sd->n; i++) {
        const pn_tensor *t = order[i];
        const char *dt = pn_dtype_name(t->dtype);
        pn_sha256_update(&h, t->name, strlen(t->name) + 1);
        pn_sha256_update(&h, dt, strlen(dt) + 1);
        put_le64(&h, (uint64_t)t->ndim);
        for (int d = 0; d < t->ndim; d++) put_le64(&h, (uint64_t)t->shape[d]);
        size_t es = pn_dtype_size(t->dtype);
        if (t->numel && t->data) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            pn_sha256_update(&h, t->data, t->numel * es);
#else
            const uint8_t *p = t->data;
            for (size_t k = 0; k < t->numel; k++)
                for (size_t j = es; j-- > 0;) pn_sha256_update(&h, p + k * es + j, 1);
#endif
        }
    }
    pn_sha256_final(&h, out);
    free(order);
    return PN_OK;
}
