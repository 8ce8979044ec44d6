/* Unpacking the data set zip with libarchive: check every entry first (no
 * ../, absolute paths or links; free space against the uncompressed size),
 * extract the folder holding train/ val/ test/ into a temporary folder beside
 * the destination, then rename it into place. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "net/net.h"
#include "pneumo/fetch.h"
#include "pneumo/util.h"

static const char *splits[] = {"train", "val", "test"};
static const char *classes[] = {"NORMAL", "PNEUMONIA"};

int pn_fetch_layout_ok(const char *dir)
{
    char p[4096];
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 2; c++) {
            if (snprintf(p, sizeof p, "%s/%s/%s", dir, splits[s], classes[c]) >= (int)sizeof p)
                return 0;
            if (!pn_net_is_dir(p)) return 0;
        }
    return 1;
}

static int is_split(const char *s, size_t n)
{
    for (int i = 0; i < 3; i++)
        if (strlen(splits[i]) == n && !memcmp(s, splits[i], n)) return 1;
    return 0;
}

static int is_class(const char *s, size_t n)
{
    for (int i = 0; i < 2; i++)
        if (strlen(classes[i]) == n && !memcmp(s, classes[i], n)) return 1;
    return 0;
}

/* Entries we skip: anything under __MACOSX/, AppleDouble "._*" files and
 * .DS_Store. */
static int skipped(const char *name)
{
    if (!strncmp(name, "__MACOSX/", 9) || strstr(name, "/__MACOSX/") || !strcmp(name, "__MACOSX"))
        return 1;
    const char *b = strrchr(name, '/');
    b = b ? b + 1 : name;
    return !strncmp(b, "._", 2) || !strcmp(b, ".DS_Store");
}

/* 1 when rel (a name below the layout prefix) is in train/, val/ or test/:
 * other things beside them (a nested duplicate chest_xray/, READMEs) are
 * left out. */
static int wanted(const char *rel)
{
    const char *e = strchr(rel, '/');
    return is_split(rel, e ? (size_t)(e - rel) : strlen(rel));
}

/* Why an entry name is unsafe, or NULL. */
static const char *unsafe_name(const char *name)
{
    if (!*name) return "empty name";
    if (name[0] == '/') return "absolute path";
    if (strchr(name, '\\')) return "backslash in the name";
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') return "'..' escapes the target folder";
        if (!e) break;
        p = e + 1;
    }
    return NULL;
}

/* Length of the prefix before "<split>/<class>" in name, or -1. */
static long layout_prefix(const char *name)
{
    const char *p = name;
    while (*p) {
        const char *e = strchr(p, '/');
        if (!e) break;
        size_t n = (size_t)(e - p);
        if (is_split(p, n)) {
            const char *q = e + 1;
            const char *e2 = strchr(q, '/');
            size_t n2 = e2 ? (size_t)(e2 - q) : strlen(q);
            if (is_class(q, n2)) return (long)(p - name);
        }
        p = e + 1;
    }
    return -1;
}

/* libarchive's message for the last error; it has none (NULL) when a zip
 * merely ends early. */
static const char *arc_msg(struct archive *a)
{
    const char *m = archive_error_string(a);
    return m && *m ? m : "unexpected end of the archive (truncated download?)";
}

static pn_status open_zip(struct archive **out, const char *zip, pn_error *err)
{
    struct archive *a = archive_read_new();
    if (!a) return pn_error_set(err, PN_E_NOMEM, "%s: libarchive: out of memory", zip);
    archive_read_support_format_zip(a);
    if (archive_read_open_filename(a, zip, 1 << 16) != ARCHIVE_OK) {
        pn_status st = pn_error_set(err, errno == ENOENT ? PN_E_NOTFOUND : PN_E_FORMAT,
                                    "%s: not a readable zip: %s", zip, arc_msg(a));
        archive_read_free(a);
        return st;
    }
    *out = a;
    return PN_OK;
}

/* Pass 1: every entry is safe; find the layout prefix; sum the sizes. */
static pn_status scan(const char *zip, char *prefix, size_t prefix_n, int64_t *bytes,
                      long *entries, pn_error *err)
{
    struct archive *a;
    pn_status st = open_zip(&a, zip, err);
    if (st) return st;
    struct archive_entry *e;
    long best = -1;
    int r;
    prefix[0] = '\0';
    /* sizes are summed for every entry and corrected below: the prefix is
     * known only at the end, so collect per-entry sizes in a second pass */
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        if (!name) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: an entry has an unreadable name", zip);
            goto out;
        }
        const char *why = unsafe_name(name);
        if (why) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': %s", zip, name, why);
            goto out;
        }
        if (archive_entry_hardlink(e)) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': a hard link", zip,
                              name);
            goto out;
        }
        mode_t t = archive_entry_filetype(e);
        if (t == AE_IFLNK) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': a symbolic link", zip,
                              name);
            goto out;
        }
        if (t != AE_IFREG && t != AE_IFDIR) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': not a file or folder",
                              zip, name);
            goto out;
        }
        if (!skipped(name)) {
            long pl = layout_prefix(name);
            if (pl >= 0 && (best < 0 || pl < best) && (size_t)pl < prefix_n) {
                best = pl;
                memcpy(prefix, name, (size_t)pl);
                prefix[pl] = '\0';
            }
        }
        archive_read_data_skip(a);
    }
    if (r != ARCHIVE_EOF) {
        st = pn_error_set(err, PN_E_FORMAT, "%s: corrupt zip: %s", zip, arc_msg(a));
        goto out;
    }
    if (best < 0) {
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: no train/, val/, test/ folders with NORMAL/ and PNEUMONIA/ in it: "
                          "is this the chest-xray-pneumonia zip from Kaggle?",
                          zip);
        goto out;
    }
    archive_read_free(a);
    /* sizes of what will be extracted */
    if ((st = open_zip(&a, zip, err))) return st;
    size_t pl = strlen(prefix);
    *bytes = 0;
    *entries = 0;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        if (name && !skipped(name) && !strncmp(name, prefix, pl) && wanted(name + pl)) {
            (*entries)++;
            if (archive_entry_size_is_set(e)) *bytes += archive_entry_size(e);
        }
        archive_read_data_skip(a);
    }
    if (r != ARCHIVE_EOF)
        st = pn_error_set(err, PN_E_FORMAT, "%s: corrupt zip: %s", zip, arc_msg(a));
out:
    archive_read_free(a);
    return st;
}

static pn_status check_space(const char *dir, int64_t bytes, long entries, pn_error *err)
{
    struct statvfs vfs;
    if (statvfs(dir, &vfs) != 0)
        return pn_error_set(err, PN_E_IO, "%s: cannot check free space: %s", dir, strerror(errno));
    double avail = (double)vfs.f_bavail * (double)vfs.f_frsize;
    /* each file rounds up to a block */
    double need = (double)bytes + (double)entries * (double)(vfs.f_frsize ? vfs.f_frsize : 4096);
    if (need > avail) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%.1f MiB", need / 1048576.0);
        snprintf(b, sizeof b, "%.1f MiB", avail / 1048576.0);
        return pn_error_set(err, PN_E_IO,
                            "%s: not enough free space: unpacking needs %s, %s free", dir, a, b);
    }
    return PN_OK;
}

static pn_status write_entry(struct archive *a, const char *zip, const char *name,
                             const char *path, pn_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return pn_error_set(err, PN_E_IO, "%s: cannot create: %s", path, strerror(errno));
    static __thread char buf[1 << 16];
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            close(fd);
            return pn_error_set(err, PN_E_FORMAT, "%s: corrupt zip: entry '%s': %s", zip, name,
                                arc_msg(a));
        }
        size_t done = 0;
        while (done < (size_t)n) {
            ssize_t w = write(fd, buf + done, (size_t)n - done);
            if (w < 0) {
                if (errno == EINTR) continue;
                int e = errno;
                close(fd);
                return pn_error_set(err, PN_E_IO, "%s: %s", path,
                                    e == ENOSPC ? "disk full (no space left on device)"
                                                : strerror(e));
            }
            done += (size_t)w;
        }
    }
    if (close(fd) != 0)
        return pn_error_set(err, PN_E_IO, "%s: write failed: %s", path, strerror(errno));
    return PN_OK;
}

static pn_status extract(const char *zip, const char *prefix, const char *tmp, pn_error *err)
{
    struct archive *a;
    pn_status st = open_zip(&a, zip, err);
    if (st) return st;
    size_t pl = strlen(prefix);
    struct archive_entry *e;
    int r;
    char path[4096];
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        const char *name = archive_entry_pathname(e);
        if (!name || skipped(name) || strncmp(name, prefix, pl) != 0 || !wanted(name + pl)) {
            archive_read_data_skip(a);
            continue;
        }
        const char *rel = name + pl;
        /* checked in the scan, checked again: the zip could have changed */
        if (!*rel || unsafe_name(rel) || archive_entry_hardlink(e)) {
            if (!*rel) {
                archive_read_data_skip(a);
                continue;
            }
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s'", zip, name);
            break;
        }
        if (snprintf(path, sizeof path, "%s/%s", tmp, rel) >= (int)sizeof path) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: entry name too long: '%s'", zip, name);
            break;
        }
        size_t len = strlen(path);
        while (len > 0 && path[len - 1] == '/') path[--len] = '\0';
        mode_t t = archive_entry_filetype(e);
        if (t == AE_IFDIR) {
            if ((st = pn_mkdirs(path, err))) break;
            continue;
        }
        if (t != AE_IFREG) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': not a file", zip, name);
            break;
        }
        char *slash = strrchr(path, '/');
        *slash = '\0';
        st = pn_mkdirs(path, err);
        *slash = '/';
        if (st) break;
        if ((st = write_entry(a, zip, name, path, err))) break;
    }
    if (!st && r != ARCHIVE_EOF)
        st = pn_error_set(err, PN_E_FORMAT, "%s: corrupt zip: %s", zip, arc_msg(a));
    archive_read_free(a);
    return st;
}

pn_status pn_unpack_dataset(const char *zip_path, const char *dest, pn_error *err)
{
    if (!zip_path || !dest || !*dest) return pn_error_set(err, PN_E_ARG, "unpack: missing path");
    struct stat sb;
    if (stat(zip_path, &sb) != 0)
        return pn_error_set(err, errno == ENOENT ? PN_E_NOTFOUND : PN_E_IO, "%s: %s", zip_path,
                            strerror(errno));
    if (!S_ISREG(sb.st_mode)) return pn_error_set(err, PN_E_ARG, "%s: not a file", zip_path);
    if (pn_path_exists(dest))
        return pn_error_set(err, PN_E_ARG, "%s: already exists", dest);

    char parent[4096];
    if (pn_net_parent_dir(dest, parent, sizeof parent))
        return pn_error_set(err, PN_E_ARG, "%s: path too long", dest);
    pn_status st = pn_mkdirs(parent, err);
    if (st) return st;

    char prefix[4096];
    int64_t bytes = 0;
    long entries = 0;
    if ((st = scan(zip_path, prefix, sizeof prefix, &bytes, &entries, err))) return st;
    if ((st = check_space(parent, bytes, entries, err))) return st;

    size_t dl = strlen(dest); /* dest without trailing slashes */
    while (dl > 1 && dest[dl - 1] == '/') dl--;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%.*s.unpack.%ld", (int)dl, dest, (long)getpid());
    pn_net_rmtree(tmp); /* a leftover from a crashed run of this pid */
    if (mkdir(tmp, 0755) != 0)
        return pn_error_set(err, PN_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    st = extract(zip_path, prefix, tmp, err);
    if (!st && !pn_fetch_layout_ok(tmp))
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: the unpacked folder has no train/, val/ and test/ each with "
                          "NORMAL/ and PNEUMONIA/",
                          zip_path);
    if (!st) {
        int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            syncfs(dfd);
            close(dfd);
        }
        if (rename(tmp, dest) != 0)
            st = pn_error_set(err, PN_E_IO, "%s: cannot move into place: %s", dest,
                              strerror(errno));
        else
            pn_net_fsync_parent(dest);
    }
    if (st) pn_net_rmtree(tmp);
    return st;
}
