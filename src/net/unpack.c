/* Unpacking the data set zip with libzip: check every entry first (no ../,
 * absolute paths or links; free space against the uncompressed size), extract
 * the folder holding train/ val/ test/ into a temporary folder beside the
 * destination, then rename it into place. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <zip.h>

#include "net/net.h"
#include "pneumo/fetch.h"
#include "pneumo/util.h"

static const char *splits[] = {"train", "val", "test"};
static const char *classes[] = {"NORMAL", "PNEUMONIA"};

int pn__fetch_layout_ok(const char *dir)
{
    char p[4096];
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 2; c++) {
            if (snprintf(p, sizeof p, "%s/%s/%s", dir, splits[s], classes[c]) >= (int)sizeof p)
                return 0;
            if (!pn__is_dir(p)) return 0;
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

static pn_status open_zip(zip_t **out, const char *zip, pn_error *err)
{
    int ze = 0;
    zip_t *z = zip_open(zip, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!z) {
        zip_error_t e;
        zip_error_init_with_code(&e, ze);
        pn_status st;
        if (ze == ZIP_ER_NOENT)
            st = pn_error_set(err, PN_E_NOTFOUND, "%s: not a readable zip: %s", zip,
                              zip_error_strerror(&e));
        else if (ze == ZIP_ER_NOZIP || ze == ZIP_ER_INCONS)
            /* no end-of-archive record, or one that disagrees with the
             * entries: what a cut-short download looks like */
            st = pn_error_set(err, PN_E_FORMAT,
                              "%s: corrupt zip: %s (truncated download, or not a zip?)", zip,
                              zip_error_strerror(&e));
        else
            st = pn_error_set(err, PN_E_FORMAT, "%s: not a readable zip: %s", zip,
                              zip_error_strerror(&e));
        zip_error_fini(&e);
        return st;
    }
    *out = z;
    return PN_OK;
}

/* One entry: its name, uncompressed size, and what it is. */
typedef enum { ENT_FILE, ENT_DIR, ENT_LINK, ENT_OTHER } ent_kind;
typedef struct ent {
    const char *name;
    uint64_t size;
    ent_kind kind;
} ent;

static pn_status entry(zip_t *z, const char *zip, zip_uint64_t i, ent *e, pn_error *err)
{
    zip_stat_t sb;
    zip_stat_init(&sb);
    if (zip_stat_index(z, i, 0, &sb) != 0 || !(sb.valid & ZIP_STAT_NAME) || !sb.name)
        return pn_error_set(err, PN_E_FORMAT, "%s: entry %" PRIu64 " has an unreadable name: %s",
                            zip, (uint64_t)i, zip_strerror(z));
    e->name = sb.name;
    e->size = (sb.valid & ZIP_STAT_SIZE) ? sb.size : 0;
    size_t len = strlen(sb.name);
    e->kind = len && sb.name[len - 1] == '/' ? ENT_DIR : ENT_FILE;
    zip_uint8_t opsys;
    zip_uint32_t attr;
    if (zip_file_get_external_attributes(z, i, 0, &opsys, &attr) == 0 &&
        opsys == ZIP_OPSYS_UNIX) {
        mode_t m = (mode_t)(attr >> 16);
        if (S_ISLNK(m))
            e->kind = ENT_LINK;
        else if (S_ISDIR(m))
            e->kind = ENT_DIR;
        else if (m & S_IFMT && !S_ISREG(m))
            e->kind = ENT_OTHER;
    }
    return PN_OK;
}

/* Pass 1: every entry is safe; find the layout prefix; sum the sizes. */
static pn_status scan(const char *zip, char *prefix, size_t prefix_n, int64_t *bytes,
                      long *entries, pn_error *err)
{
    zip_t *z;
    pn_status st = open_zip(&z, zip, err);
    if (st) return st;
    zip_int64_t n = zip_get_num_entries(z, 0);
    long best = -1;
    prefix[0] = '\0';
    for (zip_int64_t i = 0; i < n; i++) {
        ent e;
        if ((st = entry(z, zip, (zip_uint64_t)i, &e, err))) goto out;
        const char *why = unsafe_name(e.name);
        if (why) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': %s", zip, e.name, why);
            goto out;
        }
        if (e.kind == ENT_LINK) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': a symbolic link", zip,
                              e.name);
            goto out;
        }
        if (e.kind == ENT_OTHER) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s': not a file or folder",
                              zip, e.name);
            goto out;
        }
        if (!skipped(e.name)) {
            long pl = layout_prefix(e.name);
            if (pl >= 0 && (best < 0 || pl < best) && (size_t)pl < prefix_n) {
                best = pl;
                memcpy(prefix, e.name, (size_t)pl);
                prefix[pl] = '\0';
            }
        }
    }
    if (best < 0) {
        st = pn_error_set(err, PN_E_FORMAT,
                          "%s: no train/, val/, test/ folders with NORMAL/ and PNEUMONIA/ in it: "
                          "is this the chest-xray-pneumonia zip from Kaggle?",
                          zip);
        goto out;
    }
    /* sizes of what will be extracted (the prefix is known only now) */
    size_t pl = strlen(prefix);
    *bytes = 0;
    *entries = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        ent e;
        if ((st = entry(z, zip, (zip_uint64_t)i, &e, err))) goto out;
        if (!skipped(e.name) && !strncmp(e.name, prefix, pl) && wanted(e.name + pl)) {
            (*entries)++;
            *bytes += (int64_t)e.size;
        }
    }
out:
    zip_discard(z);
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

static pn_status write_entry(zip_t *z, zip_uint64_t i, const char *zip, const ent *e,
                             const char *path, pn_error *err)
{
    zip_file_t *zf = zip_fopen_index(z, i, 0);
    if (!zf)
        return pn_error_set(err, PN_E_FORMAT, "%s: corrupt zip: entry '%s': %s", zip, e->name,
                            zip_strerror(z));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        pn_status st = pn_error_set(err, PN_E_IO, "%s: cannot create: %s", path, strerror(errno));
        zip_fclose(zf);
        return st;
    }
    static __thread char buf[1 << 16];
    pn_status st = PN_OK;
    uint64_t total = 0;
    for (;;) {
        zip_int64_t n = zip_fread(zf, buf, sizeof buf);
        if (n == 0) break;
        if (n < 0) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: corrupt zip: entry '%s': %s", zip, e->name,
                              zip_file_strerror(zf));
            break;
        }
        total += (uint64_t)n;
        if (total > e->size) { /* more than the size the free-space check counted */
            st = pn_error_set(err, PN_E_FORMAT,
                              "%s: corrupt zip: entry '%s' holds more than its %" PRIu64
                              " bytes",
                              zip, e->name, e->size);
            break;
        }
        size_t done = 0;
        while (done < (size_t)n) {
            ssize_t w = write(fd, buf + done, (size_t)n - done);
            if (w < 0) {
                if (errno == EINTR) continue;
                int en = errno;
                st = pn_error_set(err, PN_E_IO, "%s: %s", path,
                                  en == ENOSPC ? "disk full (no space left on device)"
                                               : strerror(en));
                break;
            }
            done += (size_t)w;
        }
        if (st) break;
    }
    zip_fclose(zf);
    if (close(fd) != 0 && !st)
        st = pn_error_set(err, PN_E_IO, "%s: write failed: %s", path, strerror(errno));
    return st;
}

static pn_status extract(const char *zip, const char *prefix, const char *tmp, pn_error *err)
{
    zip_t *z;
    pn_status st = open_zip(&z, zip, err);
    if (st) return st;
    size_t pl = strlen(prefix);
    char path[4096];
    zip_int64_t n = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < n && !st; i++) {
        ent e;
        if ((st = entry(z, zip, (zip_uint64_t)i, &e, err))) break;
        if (skipped(e.name) || strncmp(e.name, prefix, pl) != 0 || !wanted(e.name + pl))
            continue;
        const char *rel = e.name + pl;
        if (!*rel) continue;
        /* checked in the scan, checked again: the zip could have changed */
        if (unsafe_name(rel) || e.kind == ENT_LINK || e.kind == ENT_OTHER) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: refusing entry '%s'", zip, e.name);
            break;
        }
        if (snprintf(path, sizeof path, "%s/%s", tmp, rel) >= (int)sizeof path) {
            st = pn_error_set(err, PN_E_FORMAT, "%s: entry name too long: '%s'", zip, e.name);
            break;
        }
        size_t len = strlen(path);
        while (len > 0 && path[len - 1] == '/') path[--len] = '\0';
        if (e.kind == ENT_DIR) {
            st = pn_mkdirs(path, err);
            continue;
        }
        char *slash = strrchr(path, '/');
        *slash = '\0';
        st = pn_mkdirs(path, err);
        *slash = '/';
        if (st) break;
        st = write_entry(z, (zip_uint64_t)i, zip, &e, path, err);
    }
    zip_discard(z);
    return st;
}

pn_status pn__unpack_dataset(const char *zip_path, const char *dest, pn_error *err)
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
    if (pn__parent_dir(dest, parent, sizeof parent))
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
    pn__rmtree(tmp); /* a leftover from a crashed run of this pid */
    if (mkdir(tmp, 0755) != 0)
        return pn_error_set(err, PN_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
    st = extract(zip_path, prefix, tmp, err);
    if (!st && !pn__fetch_layout_ok(tmp))
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
            pn__fsync_parent(dest);
    }
    if (st) pn__rmtree(tmp);
    return st;
}
