/* Small file-system helpers for the fetch code: fsync a folder, rm -rf. */
#include <fcntl.h>
#include <stdarg.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"

int pn_net_parent_dir(const char *path, char *out, size_t n)
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

void pn_net_fsync_parent(const char *path)
{
    char dir[4096];
    if (pn_net_parent_dir(path, dir, sizeof dir)) return;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* some file systems refuse it: best effort */
        close(fd);
    }
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    return (flag == FTW_DP ? rmdir(p) : unlink(p)) != 0 ? -1 : 0;
}

int pn_net_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    return nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int pn_net_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

pn_status pn_net_copy_path(char *dst, size_t n, const char *src, const char *what, pn_error *err)
{
    size_t l = strlen(src);
    if (!dst || l >= n) return pn_error_set(err, PN_E_ARG, "%s: path too long for the buffer", what);
    memcpy(dst, src, l + 1);
    return PN_OK;
}

pn_status pn_net_append(pn_status st, pn_error *err, const char *fmt, ...)
{
    if (!err) return st;
    size_t l = strlen(err->msg);
    if (l + 1 < sizeof err->msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg + l, sizeof err->msg - l, fmt, ap);
        va_end(ap);
    }
    return st;
}
