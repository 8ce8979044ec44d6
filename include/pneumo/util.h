/* pneumo: small shared utilities — files written atomically, whole-file
 * reads, directories, the cache folder, SHA-256 and a monotonic clock. */
#ifndef PNEUMO_UTIL_H
#define PNEUMO_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "pneumo/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- atomic file writes ------------------------------------------------
 * Write to "<path>.tmp.<pid>.<n>" in the same folder (a later run, or
 * `pneumo cache`, removes such files whose process is gone), then fflush + fsync +
 * rename over <path> (and fsync the folder). A failure at any point removes
 * the temporary file, so <path> is either the old file or the complete new
 * one, never a half-written file.
 *
 *     pn_afile af;
 *     if (pn_afile_open(&af, "out.json", &err)) return err.code;
 *     fprintf(af.f, ...);
 *     return pn_afile_commit(&af, &err);   // or pn_afile_abort(&af)
 */
typedef struct pn_afile {
    FILE *f;
    char *path; /* final path (owned) */
    char *tmp;  /* temporary path (owned) */
    void *priv; /* the write sink (keeps the errno of a failed write) */
} pn_afile;

pn_status pn_afile_open(pn_afile *af, const char *path, pn_error *err);
/* Checks for write errors (ferror, fflush, fsync, fclose, rename); on any
 * failure the temporary is removed and the error names <path>. */
pn_status pn_afile_commit(pn_afile *af, pn_error *err);
void pn_afile_abort(pn_afile *af);

/* Whole buffer to <path>, atomically. */
pn_status pn_write_file_atomic(const char *path, const void *data, size_t n, pn_error *err);

/* Opens path read-only and checks that it is a regular file, without ever
 * blocking: a FIFO, device or folder fails at once with PN_E_IO "not a
 * regular file" (a missing file with PN_E_NOTFOUND). On success *fd is a
 * normal blocking descriptor (close it) and *size (if not NULL) the size. */
pn_status pn_open_regular(const char *path, int *fd, uint64_t *size, pn_error *err);

/* Read a whole file into a malloc'ed buffer (NUL-terminated for
 * convenience, the NUL not counted in *n). Files larger than max_bytes are
 * refused with PN_E_NOMEM. */
pn_status pn_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *n,
                       pn_error *err);

/* mkdir -p. */
pn_status pn_mkdirs(const char *path, pn_error *err);

/* pneumo's cache folder: $XDG_CACHE_HOME/pneumo or $HOME/.cache/pneumo
 * (not created). Returns PN_E_NOTFOUND when neither variable is set. */
pn_status pn_cache_dir(char *buf, size_t bufsize, pn_error *err);

/* Join two path parts with one '/' into buf; PN_E_ARG when it doesn't fit. */
pn_status pn_path_join(char *buf, size_t bufsize, const char *a, const char *b, pn_error *err);

/* 1 if the path exists (any type), 0 if not. */
int pn_path_exists(const char *path);

/* ---- SHA-256 ------------------------------------------------------------ */
typedef struct pn_sha256 {
    void *ctx; /* OpenSSL EVP_MD_CTX */
} pn_sha256;

pn_status pn_sha256_init(pn_sha256 *h, pn_error *err);
void pn_sha256_update(pn_sha256 *h, const void *data, size_t n);
/* Writes 32 bytes to out and frees the context. */
void pn_sha256_final(pn_sha256 *h, uint8_t out[32]);
/* Release a context without a result (after an error). */
void pn_sha256_discard(pn_sha256 *h);
void pn_sha256_buf(const void *data, size_t n, uint8_t out[32]);
pn_status pn_sha256_file(const char *path, uint8_t out[32], pn_error *err);
/* 64 lower-case hex digits + NUL. */
void pn_hex(const uint8_t *bytes, size_t n, char *out);
/* Base64 (RFC 4648, padded; libcrypto's encoder) of n bytes into a malloc'ed
 * NUL-terminated string; NULL when out of memory. */
char *pn_base64(const void *data, size_t n);

/* ---- time ---------------------------------------------------------------- */
/* Seconds from a monotonic clock. */
double pn_now(void);

#ifdef __cplusplus
}
#endif
#endif
