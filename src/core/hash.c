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
