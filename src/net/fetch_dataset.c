/* The chest X-ray data set: find it (our cache, kagglehub's cache), download
 * it from Kaggle or install it from a zip. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "pneumo/fetch.h"
#include "pneumo/util.h"

#define OFFLINE_HINT                                                                        \
    "without network: download the zip by hand from "                                       \
    "https://www.kaggle.com/datasets/" PN_KAGGLE_DATASET                                    \
    " and run 'pneumo fetch dataset --from chest-xray-pneumonia.zip', or pass --data DIR"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the sub-folders of dir (skipping dot folders and
 * __MACOSX); *count set. Caller frees each name and the array. */
static char **subdirs(const char *dir, size_t *count)
{
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) return NULL;
    char **v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    char p[4096];
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "__MACOSX")) continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        if (!pn__is_dir(p)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            char **nv = realloc(v, cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        if (!(v[n] = strdup(e->d_name))) break;
        n++;
    }
    closedir(d);
    if (n) qsort(v, n, sizeof *v, cmp_str);
    *count = n;
    return v;
}

static void free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

/* The shallowest folder at exactly `depth` levels under dir with the layout. */
static int find_layout_at(const char *dir, int depth, char *out, size_t n)
{
    if (depth == 0) {
        if (!pn__fetch_layout_ok(dir)) return 0;
        return snprintf(out, n, "%s", dir) < (int)n;
    }
    size_t k;
    char **v = subdirs(dir, &k);
    int found = 0;
    char p[4096];
    for (size_t i = 0; i < k && !found; i++)
        if (snprintf(p, sizeof p, "%s/%s", dir, v[i]) < (int)sizeof p)
            found = find_layout_at(p, depth - 1, out, n);
    free_names(v, k);
    return found;
}

static int find_layout(const char *dir, char *out, size_t n)
{
    for (int depth = 0; depth <= 3; depth++)
        if (find_layout_at(dir, depth, out, n)) return 1;
    return 0;
}

/* kagglehub: <root>/datasets/<owner>/<name>/versions/<N>/, highest N first. */
static int find_kagglehub(char *out, size_t n, char *looked, size_t looked_n)
{
    char root[4096];
    const char *c = getenv("KAGGLEHUB_CACHE"), *home = getenv("HOME");
    if (c && *c)
        snprintf(root, sizeof root, "%s", c);
    else if (home && *home)
        snprintf(root, sizeof root, "%s/.cache/kagglehub", home);
    else
        return 0;
    char base[4200];
    snprintf(base, sizeof base, "%s/datasets/" PN_KAGGLE_DATASET "/versions", root);
    snprintf(looked, looked_n, "%s", base);
    size_t k;
    char **v = subdirs(base, &k);
    long best_n = -1;
    int found = 0;
    /* try versions from the highest down */
    for (;;) {
        long next = -1;
        for (size_t i = 0; i < k; i++) {
            char *end;
            long x = strtol(v[i], &end, 10);
            if (*end || end == v[i] || x < 0) continue;
            if ((best_n < 0 || x < best_n) && x > next) next = x;
        }
        if (next < 0) break;
        best_n = next;
        char p[4300];
        snprintf(p, sizeof p, "%s/%ld", base, next);
        if (find_layout(p, out, n)) {
            found = 1;
            break;
        }
    }
    free_names(v, k);
    return found;
}

pn_status pn_fetch_find_dataset_opts(const pn_fetch_opts *o, char *path, size_t n,
                                     pn_error *err)
{
    char dir[4096], ours[4200], hub[4300] = "";
    pn_status st = pn__net_dest_dir(o, "datasets", dir, sizeof dir, err);
    if (st) return st;
    snprintf(ours, sizeof ours, "%s/" PN_DATASET_DIR, dir);
    if (pn__fetch_layout_ok(ours)) return pn__net_copy_path(path, n, ours, ours, err);
    int reuse = !(o && (o->no_reuse || (o->dest_dir && *o->dest_dir)));
    if (reuse && find_kagglehub(path, n, hub, sizeof hub)) return PN_OK;
    return pn_error_set(err, PN_E_NOTFOUND,
                        "no chest X-ray data set found (looked in %s%s%s): run 'pneumo fetch "
                        "dataset' to download it, or 'pneumo fetch dataset --from "
                        "chest-xray-pneumonia.zip' with a zip downloaded by hand from "
                        "https://www.kaggle.com/datasets/" PN_KAGGLE_DATASET
                        ", or pass --data DIR",
                        ours, *hub ? " and " : "", hub);
}

/* Leftovers of a run that died (its pid is gone) beside final:
 * "<final>.unpack.<pid>", "<final>.new.<pid>[...]" are removed; a
 * "<final>.old.<pid>" is the previous data set, put back when final is
 * missing (the run died between its two renames). */
static void cleanup_stale(const char *dir, const char *final)
{
    DIR *d = opendir(dir);
    if (!d) return;
    const char *base = PN_DATASET_DIR ".";
    size_t bl = strlen(base);
    struct dirent *e;
    char p[4400];
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, base, bl) != 0) continue;
        const char *dot = strrchr(e->d_name, '.');
        char *end;
        long pid = strtol(dot + 1, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive (or unknown) */
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        if (!strncmp(e->d_name + bl, "old.", 4) && !pn_path_exists(final) &&
            pn__fetch_layout_ok(p) && rename(p, final) == 0)
            continue;
        if (!strncmp(e->d_name + bl, "old.", 4) || !strncmp(e->d_name + bl, "new.", 4) ||
            strstr(e->d_name + bl, "unpack."))
            pn__rmtree(p);
    }
    closedir(d);
}

/* Unpack zip into final; with replace, swap it in for an existing folder. */
static pn_status install(const char *zip, const char *dir, const char *final, int replace,
                         pn_error *err)
{
    cleanup_stale(dir, final);
    if (!pn_path_exists(final)) return pn__unpack_dataset(zip, final, err);
    if (!replace) {
        if (pn__fetch_layout_ok(final)) return PN_OK; /* put back by cleanup_stale */
        return pn_error_set(err, PN_E_ARG, "%s already exists (--force replaces it)", final);
    }
    char fresh[4300], old[4300];
    snprintf(fresh, sizeof fresh, "%s.new.%ld", final, (long)getpid());
    snprintf(old, sizeof old, "%s.old.%ld", final, (long)getpid());
    pn__rmtree(fresh);
    pn_status st = pn__unpack_dataset(zip, fresh, err);
    if (st) return st;
    if (rename(final, old) != 0) {
        st = pn_error_set(err, PN_E_IO, "%s: cannot move aside: %s", final, strerror(errno));
        pn__rmtree(fresh);
        return st;
    }
    if (rename(fresh, final) != 0) {
        st = pn_error_set(err, PN_E_IO, "%s: cannot move into place: %s", final, strerror(errno));
        rename(old, final);
        pn__rmtree(fresh);
        return st;
    }
    pn__rmtree(old);
    return PN_OK;
}

pn_status pn_fetch_dataset(const pn_fetch_opts *o, char *path, size_t n, pn_error *err)
{
    pn_fetch_opts defaults;
    if (!o) {
        pn_fetch_opts_init(&defaults);
        o = &defaults;
    }
    char dir[4096], final[4200];
    pn_status st = pn__net_dest_dir(o, "datasets", dir, sizeof dir, err);
    if (st) return st;
    snprintf(final, sizeof final, "%s/" PN_DATASET_DIR, dir);

    if (o->from_zip && *o->from_zip) {
        if (!o->force && pn__fetch_layout_ok(final))
            return pn__net_copy_path(path, n, final, final, err);
        if ((st = pn_mkdirs(dir, err))) return st;
        st = install(o->from_zip, dir, final, o->force, err);
        if (st) return st;
        return pn__net_copy_path(path, n, final, final, err);
    }
    if (!o->force && pn_fetch_find_dataset_opts(o, path, n, NULL) == PN_OK) return PN_OK;

    if ((st = pn_mkdirs(dir, err))) return st;
    char zip[4300];
    snprintf(zip, sizeof zip, "%s/" PN_DATASET_DIR ".zip", dir);
    const char *url = pn__net_url(o, "PNEUMO_KAGGLE_URL", PN_KAGGLE_URL);
    if (!pn_path_exists(zip)) { /* a complete zip from an earlier run is reused */
        char user[256], key[256], source[4200], userpwd[520];
        pn_error cerr = {0};
        pn_status cs = pn__kaggle_credentials(user, sizeof user, key, sizeof key, source,
                                             sizeof source, &cerr);
        if (cs && cs != PN_E_NOTFOUND) return pn_error_set(err, cs, "%s", cerr.msg);
        if (!cs) snprintf(userpwd, sizeof userpwd, "%s:%s", user, key);
        pn__net_note(o, PN_DATASET_DIR ".zip", "downloading %s (%s)", url,
                     cs ? "anonymous: no Kaggle credentials" : source);
        long code = 0;
        st = pn__net_download(o, url, cs ? NULL : userpwd, zip, &code, err);
        if (st == PN_E_NET && (code == 401 || code == 403)) {
            if (cs)
                pn_error_prefix(err,
                                "Kaggle refused an anonymous download; set KAGGLE_USERNAME and "
                                "KAGGLE_KEY, or save your Kaggle API token (kaggle.com > Settings "
                                "> API > Create New Token) as ~/.kaggle/kaggle.json; or " OFFLINE_HINT
                                "; the server said: ");
            else
                pn_error_prefix(err,
                                "Kaggle rejected the credentials from %s; check the username and "
                                "key (kaggle.com > Settings > API > Create New Token); or " OFFLINE_HINT
                                "; the server said: ",
                                source);
            return st;
        }
        if (st == PN_E_NET) pn_error_prefix(err, "%s; the download failed: ", OFFLINE_HINT);
        if (st) return st;
    }
    st = install(zip, dir, final, o->force, err);
    if (st == PN_E_FORMAT) {
        unlink(zip); /* a broken download: the next run fetches it again */
        pn_error_prefix(err, "the downloaded zip was removed: ");
        return st;
    }
    if (st) return st;
    if (!o->keep_archive) unlink(zip);
    return pn__net_copy_path(path, n, final, final, err);
}
