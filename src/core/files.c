/* Files: atomic writes, whole-file reads, folders (mkdir -p, rm -rf, fsync),
 * the cache dir. The only file-system helpers of pneumo: see util.h for the
 * public ones and core/files.h for the private ones. */
#include "core/files.h"
#include "pneumo/util.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static atomic_uint tmp_counter;

int pn__parent_dir(const char *path, char *out, size_t n)
{
    size_t len = strlen(path);
    if (len >= n) return -1;
    memcpy(out, path, len + 1);
    while (len > 1 && out[len - 1] == '/') out[--len] = '\0';
    char *s = strrchr(out, '/');
    if (!s)
        strcpy(out, ".");
    else if (s == out)
        s[1] = '\0';
    else
        *s = '\0';
    return 0;
}

void pn__fsync_parent(const char *path)
{
    char dir[4096];
    if (pn__parent_dir(path, dir, sizeof dir)) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: some file systems refuse it */
        close(fd);
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(p) : unlink(p)) != 0 ? -1 : 0;
}

int pn__rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int pn__is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The FILE of a pn_afile writes through this sink, which keeps the errno of
 * the first failed write(2): a full disk is then reported as ENOSPC, not as
 * the stream's bare error flag. */
typedef struct afile_sink {
    int fd;
    int err; /* errno of the first failed write, 0 when none */
} afile_sink;

static ssize_t sink_write(void *c, const char *buf, size_t n)
{
    afile_sink *s = c;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(s->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (!s->err) s->err = w < 0 ? errno : EIO;
            errno = s->err;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)n;
}

static int sink_close(void *c)
{
    afile_sink *s = c;
    int rc = close(s->fd);
    free(s);
    return rc;
}

pn_status pn_afile_open(pn_afile *af, const char *path, pn_error *err)
{
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 64;
    af->path = strdup(path);
    af->tmp = malloc(n);
    afile_sink *sink = malloc(sizeof *sink);
    if (!af->path || !af->tmp || !sink) {
        free(af->path);
        free(af->tmp);
        free(sink);
        memset(af, 0, sizeof *af);
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    }
    snprintf(af->tmp, n, "%s.tmp.%ld.%u", path, (long)getpid(),
             atomic_fetch_add(&tmp_counter, 1u));
    int fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    int e = errno;
    if (fd >= 0) {
        *sink = (afile_sink){fd, 0};
        cookie_io_functions_t io = {.write = sink_write, .close = sink_close};
        af->f = fopencookie(sink, "wb", io);
        e = errno;
    }
    if (!af->f) {
        if (fd >= 0) {
            close(fd);
            unlink(af->tmp);
        }
        free(sink);
        free(af->path);
        free(af->tmp);
        memset(af, 0, sizeof *af);
        return pn_error_set(err, PN_E_IO, "%s: cannot create: %s", path,
                            strerror(e));
    }
    af->priv = sink;
    return PN_OK;
}

void pn_afile_abort(pn_afile *af)
{
    if (af->f) fclose(af->f); /* frees the sink */
    if (af->tmp) unlink(af->tmp);
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
}

pn_status pn_afile_commit(pn_afile *af, pn_error *err)
{
    if (!af->f) return pn_error_set(err, PN_E_ARG, "atomic file not open");
    afile_sink *sink = af->priv;
    int e = 0;
    if (fflush(af->f) != 0 || ferror(af->f)) e = sink->err ? sink->err : (errno ? errno : EIO);
    if (!e && fsync(sink->fd) != 0) e = errno;
    int rc = fclose(af->f); /* closes the fd and frees the sink */
    af->f = NULL;
    af->priv = NULL;
    if (!e && rc != 0) e = errno;
    if (!e && rename(af->tmp, af->path) != 0) e = errno;
    if (e) {
        pn_status st = pn_error_set(err, PN_E_IO, "%s: write failed: %s", af->path, strerror(e));
        pn_afile_abort(af);
        return st;
    }
    pn__fsync_parent(af->path);
    free(af->path);
    free(af->tmp);
    memset(af, 0, sizeof *af);
    return PN_OK;
}

pn_status pn_write_file_atomic(const char *path, const void *data, size_t n, pn_error *err)
{
    pn_afile af;
    pn_status st = pn_afile_open(&af, path, err);
    if (st) return st;
    if (n && fwrite(data, 1, n, af.f) != n) {
        int e = errno;
        pn_afile_abort(&af);
        return pn_error_set(err, PN_E_IO, "%s: write failed: %s", path, strerror(e));
    }
    return pn_afile_commit(&af, err);
}

pn_status pn_open_regular(const char *path, int *fd, uint64_t *size, pn_error *err)
{
    *fd = -1;
    /* O_NONBLOCK: opening a FIFO for reading would wait for a writer */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (f < 0)
        return pn_error_set(err, errno == ENOENT ? PN_E_NOTFOUND : PN_E_IO, "%s: cannot open: %s",
                            path, strerror(errno));
    struct stat sb;
    if (fstat(f, &sb) != 0) {
        int e = errno;
        close(f);
        return pn_error_set(err, PN_E_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(f);
        return pn_error_set(err, PN_E_IO, "%s: not a regular file", path);
    }
    int fl = fcntl(f, F_GETFL);
    if (fl >= 0) fcntl(f, F_SETFL, fl & ~O_NONBLOCK);
    *fd = f;
    if (size) *size = (uint64_t)sb.st_size;
    return PN_OK;
}

pn_status pn_read_file(const char *path, size_t max_bytes, uint8_t **data, size_t *n,
                       pn_error *err)
{
    *data = NULL;
    *n = 0;
    int fd;
    uint64_t fsize;
    pn_status ost = pn_open_regular(path, &fd, &fsize, err);
    if (ost) return ost;
    if (fsize > max_bytes) {
        close(fd);
        return pn_error_set(err, PN_E_NOMEM, "%s: %llu bytes is over the limit of %zu", path,
                            (unsigned long long)fsize, max_bytes);
    }
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        int e = errno;
        close(fd);
        return pn_error_set(err, PN_E_NOMEM, "%s: cannot read: %s", path, strerror(e));
    }
    size_t size = (size_t)fsize;
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return pn_error_set(err, PN_E_NOMEM, "%s: out of memory (%zu bytes)", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != size) {
        free(buf);
        return pn_error_set(err, PN_E_IO, "%s: read error", path);
    }
    buf[size] = '\0';
    *data = buf;
    *n = size;
    return PN_OK;
}

pn_status pn_mkdirs(const char *path, pn_error *err)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof buf)
        return pn_error_set(err, PN_E_ARG, "bad folder path '%s'", path);
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return pn_error_set(err, PN_E_IO, "%s: cannot create folder: %s", buf,
                                    strerror(errno));
            buf[i] = c;
        }
    }
    if (!pn__is_dir(path)) return pn_error_set(err, PN_E_IO, "%s: not a folder", path);
    return PN_OK;
}

pn_status pn_path_join(char *buf, size_t bufsize, const char *a, const char *b, pn_error *err)
{
    size_t la = strlen(a);
    int slash = la > 0 && a[la - 1] == '/';
    int n = snprintf(buf, bufsize, "%s%s%s", a, (slash || la == 0) ? "" : "/", b);
    if (n < 0 || (size_t)n >= bufsize)
        return pn_error_set(err, PN_E_ARG, "path too long: %s/%s", a, b);
    return PN_OK;
}

pn_status pn_cache_dir(char *buf, size_t bufsize, pn_error *err)
{
    const char *x = getenv("XDG_CACHE_HOME");
    if (x && *x) return pn_path_join(buf, bufsize, x, "pneumo", err);
    const char *h = getenv("HOME");
    if (h && *h) return pn_path_join(buf, bufsize, h, ".cache/pneumo", err);
    return pn_error_set(err, PN_E_NOTFOUND,
                        "no cache folder: set XDG_CACHE_HOME or HOME");
}

int pn_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

const char *pn__fmt_bytes(double b, char *buf, size_t n)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, n, "%.0f %s", b, units[u]);
    else
        snprintf(buf, n, "%.1f %s", b, units[u]);
    return buf;
}

int pn__tmp_is_stale(const char *name, long *pid)
{
    const char *t = strstr(name, ".tmp.");
    while (t) { /* the last ".tmp.<digits>.<digits>" suffix */
        const char *q = t + 5;
        char *end;
        errno = 0;
        long p = strtol(q, &end, 10);
        if (end != q && *end == '.' && p > 0 && !errno) {
            const char *r = end + 1;
            strtoul(r, &end, 10);
            if (end != r && *end == '\0') {
                if (pid) *pid = p;
                return kill((pid_t)p, 0) != 0 && errno == ESRCH;
            }
        }
        t = strstr(t + 1, ".tmp.");
    }
    return 0;
}

size_t pn__tmp_sweep(const char *dir, uint64_t *bytes)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!pn__tmp_is_stale(e->d_name, NULL)) continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) || !S_ISREG(sb.st_mode))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
            n++;
            if (bytes) *bytes += (uint64_t)sb.st_size;
        }
    }
    closedir(d);
    return n;
}
