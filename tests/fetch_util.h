/* Helpers for the fetch tests: the local HTTP server (tests/server/
 * fileserver.py on 127.0.0.1), zips built with libzip, small file
 * utilities. Included by tests/test_fetch*.c only. */
#ifndef PNEUMO_TEST_FETCH_UTIL_H
#define PNEUMO_TEST_FETCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct fu_server {
    pid_t pid;
    int port;
    char root[4096]; /* files served */
    char log[4096];  /* JSON lines, one per request */
} fu_server;

/* Start the server on a free port serving root; fails the test if it
 * doesn't come up within 10 s. */
void fu_server_start(fu_server *s, const char *root, const char *workdir);
void fu_server_stop(fu_server *s);
/* Number of logged requests whose path equals path; the Range / Authorization
 * header of the last one (or "" when absent) into range/auth if non-NULL. */
int fu_server_requests(const fu_server *s, const char *path, char *range, size_t range_n,
                       char *auth, size_t auth_n);
/* Total number of logged requests. */
int fu_server_total(const fu_server *s);

/* Zip entries: a file from disk (src), inline bytes (data), a folder, a
 * symlink (data = target) or a FIFO (Unix modes in the external attributes). */
typedef enum { FU_FILE, FU_DIR, FU_SYMLINK, FU_FIFO } fu_kind;
typedef struct fu_entry {
    const char *name;
    fu_kind kind;
    const char *src;  /* FU_FILE: copy this file; NULL: use data */
    const char *data; /* FU_FILE inline content; FU_SYMLINK target */
} fu_entry;
void fu_make_zip(const char *path, const fu_entry *e, size_t n);

void fu_write(const char *path, const void *data, size_t n);
/* Whole file, malloc'ed; NULL if it doesn't exist. */
uint8_t *fu_read(const char *path, size_t *n);
/* 1 if both files exist and are byte-identical. */
int fu_same(const char *a, const char *b);
int64_t fu_size(const char *path);
/* Names in dir (not . or ..), comma-separated and sorted, into out. */
const char *fu_list(const char *dir, char *out, size_t n);
/* A TCP port on 127.0.0.1 nobody listens on (bound, then closed). */
int fu_closed_port(void);
/* First 8 hex digits of the SHA-256 of a file. */
void fu_sha_prefix(const char *path, char out[9]);
/* Clear the environment variables fetch reads and point HOME and
 * XDG_CACHE_HOME into dir. */
void fu_clean_env(const char *dir);

#endif
