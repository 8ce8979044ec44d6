/* The on-disk feature cache (see featcache.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "featcache.h"
#include "pneumo/util.h"

#define FC_MAGIC "PNFEAT01"
#define FC_HDR (8 + 4 + 32)

pn_status pn__featcache_open(pn_featcache *fc, const char *dir, pn_error *err)
{
    memset(fc, 0, sizeof *fc);
    char base[4096];
    if (dir) {
        if (snprintf(fc->dir, sizeof fc->dir, "%s", dir) >= (int)sizeof fc->dir)
            return pn_error_set(err, PN_E_ARG, "feature cache: path too long");
    } else {
        pn_status st = pn_cache_dir(base, sizeof base, err);
        if (st) return st;
        st = pn_path_join(fc->dir, sizeof fc->dir, base, "features", err);
        if (st) return st;
    }
    pn_status st = pn_mkdirs(fc->dir, err);
    if (!st) { /* writable? (a read-only folder is found now, not at the first entry) */
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/probe", fc->dir);
        pn_afile af;
        st = pn_afile_open(&af, probe, err);
        if (!st) pn_afile_abort(&af);
    }
    if (st) return pn_error_prefix(err, "feature cache: ");
    pn__tmp_sweep(fc->dir, NULL); /* entries a killed run left half-written */
    return PN_OK;
}

void pn__featcache_key(const uint8_t weights_hash[32], const char *settings, const char *stage,
                      const uint8_t content_hash[32], uint8_t key[32])
{
    size_t ls = strlen(settings), lt = strlen(stage);
    size_t n = 14 + 32 + 8 + ls + 8 + lt + 32;
    uint8_t *buf = malloc(n), *p = buf;
    if (!buf) {
        memset(key, 0, 32);
        return;
    }
    memcpy(p, "pneumo-feat-v1", 14), p += 14;
    memcpy(p, weights_hash, 32), p += 32;
    uint64_t l = ls;
    memcpy(p, &l, 8), p += 8;
    memcpy(p, settings, ls), p += ls;
    l = lt;
    memcpy(p, &l, 8), p += 8;
    memcpy(p, stage, lt), p += lt;
    memcpy(p, content_hash, 32);
    pn_sha256_buf(buf, n, key);
    free(buf);
}

static pn_status entry_path(const pn_featcache *fc, const uint8_t key[32], char *path, size_t n,
                            pn_error *err)
{
    char hex[65];
    pn_hex(key, 32, hex);
    if (snprintf(path, n, "%s/%s.bin", fc->dir, hex) >= (int)n)
        return pn_error_set(err, PN_E_ARG, "feature cache: path too long");
    return PN_OK;
}

pn_status pn__featcache_get(pn_featcache *fc, const uint8_t key[32], float *out, size_t numel,
                           int *hit, pn_error *err)
{
    *hit = 0;
    char path[4200];
    pn_status st = entry_path(fc, key, path, sizeof path, err);
    if (st) return st;
    size_t want = FC_HDR + numel * sizeof(float) + 32;
    /* never blocks (a FIFO) and never reads a device or folder: an entry that
     * is not a regular file is removed (a folder too) and recomputed */
    int fd;
    pn_error oe = {0};
    pn_status ost = pn_open_regular(path, &fd, NULL, &oe);
    if (ost == PN_E_NOTFOUND) {
        fc->misses++;
        return PN_OK;
    }
    FILE *f = ost ? NULL : fdopen(fd, "rb");
    if (!f) {
        if (!ost) close(fd);
        struct stat sb;
        if (!lstat(path, &sb)) S_ISDIR(sb.st_mode) ? pn__rmtree(path) : unlink(path);
        fc->bad++;
        fc->misses++;
        return PN_OK;
    }
    uint8_t *buf = malloc(want + 1);
    if (!buf) {
        fclose(f);
        return pn_error_set(err, PN_E_NOMEM, "feature cache: out of memory");
    }
    size_t got = fread(buf, 1, want + 1, f);
    fclose(f);
    uint32_t n32;
    memcpy(&n32, buf + 8, 4);
    uint8_t sum[32];
    int ok = got == want && !memcmp(buf, FC_MAGIC, 8) && n32 == numel &&
             !memcmp(buf + 12, key, 32);
    if (ok) {
        pn_sha256_buf(buf, want - 32, sum);
        ok = !memcmp(sum, buf + want - 32, 32);
    }
    if (ok) {
        utimensat(AT_FDCWD, path, NULL, 0); /* used now: --max-size drops the least recent */
        memcpy(out, buf + FC_HDR, numel * sizeof(float));
        *hit = 1;
        fc->hits++;
    } else {
        fc->bad++; /* recomputed and overwritten by the caller */
        fc->misses++;
    }
    free(buf);
    return PN_OK;
}

pn_status pn__featcache_put(pn_featcache *fc, const uint8_t key[32], const float *x, size_t numel,
                           pn_error *err)
{
    char path[4200];
    pn_status st = entry_path(fc, key, path, sizeof path, err);
    if (st) return st;
    if (numel > UINT32_MAX) return pn_error_set(err, PN_E_ARG, "feature cache: entry too large");
    size_t n = FC_HDR + numel * sizeof(float) + 32;
    uint8_t *buf = malloc(n);
    if (!buf) return pn_error_set(err, PN_E_NOMEM, "feature cache: out of memory");
    uint32_t n32 = (uint32_t)numel;
    memcpy(buf, FC_MAGIC, 8);
    memcpy(buf + 8, &n32, 4);
    memcpy(buf + 12, key, 32);
    memcpy(buf + FC_HDR, x, numel * sizeof(float));
    pn_sha256_buf(buf, n - 32, buf + n - 32);
    st = pn_write_file_atomic(path, buf, n, err);
    free(buf);
    return st;
}

/* ---- what `pneumo cache` shows and removes ------------------------------ */

/* an entry's name: 64 hex digits + ".bin" */
static int is_entry(const char *name)
{
    size_t n = strlen(name);
    if (n != 68 || strcmp(name + 64, ".bin")) return 0;
    for (int i = 0; i < 64; i++)
        if (!strchr("0123456789abcdef", name[i])) return 0;
    return 1;
}

typedef struct fc_ent {
    char name[72];
    uint64_t bytes;
    time_t mtime;
} fc_ent;

static int cmp_mtime(const void *a, const void *b)
{
    const fc_ent *x = a, *y = b;
    return x->mtime < y->mtime ? -1 : x->mtime > y->mtime ? 1 : strcmp(x->name, y->name);
}

static pn_status list_entries(const char *dir, fc_ent **out, size_t *n, pn_cache_stats *s,
                              pn_error *err)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return PN_OK; /* no cache yet: empty */
        return pn_error_set(err, PN_E_IO, "%s: cannot open: %s", dir, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *e;
    pn_status st = PN_OK;
    while (!st && (e = readdir(d))) {
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW)) continue;
        if (pn__tmp_is_stale(e->d_name, NULL) && S_ISREG(sb.st_mode)) {
            s->stale_tmp++;
            s->stale_bytes += (uint64_t)sb.st_size;
            continue;
        }
        if (!is_entry(e->d_name)) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 256;
            fc_ent *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                st = pn_error_set(err, PN_E_NOMEM, "feature cache: out of memory");
                break;
            }
            *out = v;
        }
        fc_ent *x = &(*out)[(*n)++];
        snprintf(x->name, sizeof x->name, "%s", e->d_name);
        x->bytes = S_ISREG(sb.st_mode) ? (uint64_t)sb.st_size : 0;
        x->mtime = sb.st_mtime;
        s->entries++;
        s->bytes += x->bytes;
        if (!s->oldest || sb.st_mtime < s->oldest) s->oldest = sb.st_mtime;
        if (sb.st_mtime > s->newest) s->newest = sb.st_mtime;
    }
    closedir(d);
    if (st) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return st;
}

pn_status pn_feature_cache_dir(char *buf, size_t n, pn_error *err)
{
    char base[4096];
    PN_TRY(pn_cache_dir(base, sizeof base, err));
    return pn_path_join(buf, n, base, "features", err);
}

pn_status pn_feature_cache_stats(const char *dir, pn_cache_stats *s, pn_error *err)
{
    memset(s, 0, sizeof *s);
    fc_ent *v;
    size_t n;
    PN_TRY(list_entries(dir, &v, &n, s, err));
    free(v);
    return PN_OK;
}

pn_status pn_feature_cache_prune(const char *dir, const pn_cache_prune *p, pn_cache_stats *removed,
                                 pn_cache_stats *left, pn_error *err)
{
    memset(removed, 0, sizeof *removed);
    memset(left, 0, sizeof *left);
    fc_ent *v;
    size_t n;
    PN_TRY(list_entries(dir, &v, &n, left, err));
    removed->stale_tmp = pn__tmp_sweep(dir, &removed->stale_bytes);
    left->stale_tmp = 0;
    left->stale_bytes = 0;
    qsort(v, n, sizeof *v, cmp_mtime); /* oldest first (entries are touched when read) */
    time_t now = time(NULL);
    uint64_t bytes = left->bytes;
    char path[4200];
    for (size_t i = 0; i < n; i++) {
        int drop = p->all || (p->older_than_s > 0 && difftime(now, v[i].mtime) > p->older_than_s) ||
                   (p->max_bytes > 0 && bytes > p->max_bytes);
        if (!drop) continue;
        snprintf(path, sizeof path, "%s/%s", dir, v[i].name);
        struct stat sb;
        if (lstat(path, &sb)) continue;
        if (S_ISDIR(sb.st_mode) ? pn__rmtree(path) : unlink(path)) continue;
        removed->entries++;
        removed->bytes += v[i].bytes;
        bytes -= v[i].bytes;
        left->entries--;
        left->bytes -= v[i].bytes;
    }
    free(v);
    return PN_OK;
}
