/* pneumo fetch: downloads against a local HTTP server on 127.0.0.1
 * (tests/server/fileserver.py: Range, dropped connections, 401/404/500,
 * stalls, redirects, wrong files) and unpacking of zips built here from a few
 * images of ../shared/data (plus hostile ones: ../, absolute, links, corrupt).
 * Expected values are independent of the code under test: the served bytes,
 * the server's request log, the shared images, the file system. */
#include "testutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pneumo.h"
#include "cli/progress.h"
#include "net/net.h"

#include "fetch_util.c"

/* ---- the world every test shares ---------------------------------------- */
static char g_root[256];     /* temp folder for everything */
static char g_srv[512];      /* files the servers serve */
static fu_server g_a, g_b;   /* two servers (redirects from a to b) */
static char g_weights[600];  /* 300 KiB fake .pth served as /weights.pth */
static char g_wprefix[9];    /* its SHA-256 prefix */
static char g_zip[600];      /* data set zip served as /data.zip */
static const char *g_imgs[6][2]; /* [split*2+class] = {shared source, name in zip} */
static int g_nimg;

static const char *SPLITS[] = {"train", "val", "test"};
static const char *CLASSES[] = {"NORMAL", "PNEUMONIA"};

static void path2(char *out, size_t n, const char *a, const char *b)
{
    if (snprintf(out, n, "%s/%s", a, b) >= (int)n) fail_msg("path too long: %s/%s", a, b);
}

/* The smallest .jpeg in a folder of the shared data. */
static char *smallest_jpeg(const char *dir)
{
    char list[65536];
    fu_list(dir, list, sizeof list);
    char *best = NULL;
    int64_t best_n = -1;
    char *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        char p[4096];
        path2(p, sizeof p, dir, t);
        int64_t n = fu_size(p);
        if (strstr(t, ".jpeg") && n > 0 && (best_n < 0 || n < best_n)) {
            best_n = n;
            free(best);
            best = strdup(p);
        }
    }
    if (!best) fail_msg("no .jpeg in %s", dir);
    return best;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_root, sizeof g_root, "%s", tu_tmpdir());
    path2(g_srv, sizeof g_srv, g_root, "srv");
    mkdir(g_srv, 0755);
    /* a fake .pth: deterministic bytes */
    size_t wn = 300 * 1024;
    uint8_t *w = malloc(wn);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < wn; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        w[i] = (uint8_t)x;
    }
    path2(g_weights, sizeof g_weights, g_srv, "weights.pth");
    fu_write(g_weights, w, wn);
    char other[600];
    w[0] ^= 1;
    path2(other, sizeof other, g_srv, "other.pth");
    fu_write(other, w, wn);
    free(w);
    fu_sha_prefix(g_weights, g_wprefix);

    /* the data set zip: one image per split and class, plus what Kaggle's
     * zips also hold (a duplicate chest_xray/chest_xray/ and __MACOSX/) */
    const char *data = tu_data_dir();
    fu_entry e[32];
    size_t n = 0;
    static char names[6][256];
    e[n++] = (fu_entry){"chest_xray/", FU_DIR, NULL, NULL};
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 2; c++) {
            char dir[4096];
            snprintf(dir, sizeof dir, "%s/chest_xray/%s/%s", data, SPLITS[s], CLASSES[c]);
            char *src = smallest_jpeg(dir);
            const char *base = strrchr(src, '/') + 1;
            snprintf(names[g_nimg], sizeof names[g_nimg], "%s/%s/%s", SPLITS[s], CLASSES[c], base);
            g_imgs[g_nimg][0] = src;
            g_imgs[g_nimg][1] = names[g_nimg];
            g_nimg++;
        }
    static char zn[6][300], dn[300];
    for (int i = 0; i < g_nimg; i++) {
        snprintf(zn[i], sizeof zn[i], "chest_xray/%s", g_imgs[i][1]);
        e[n++] = (fu_entry){zn[i], FU_FILE, g_imgs[i][0], NULL};
    }
    snprintf(dn, sizeof dn, "chest_xray/chest_xray/%s", g_imgs[0][1]);
    e[n++] = (fu_entry){dn, FU_FILE, g_imgs[0][0], NULL};
    e[n++] = (fu_entry){"__MACOSX/chest_xray/._x.jpeg", FU_FILE, NULL, "apple double"};
    e[n++] = (fu_entry){"chest_xray/.DS_Store", FU_FILE, NULL, "finder"};
    path2(g_zip, sizeof g_zip, g_srv, "data.zip");
    fu_make_zip(g_zip, e, n);

    fu_server_start(&g_a, g_srv, g_root);
    fu_server_start(&g_b, g_srv, g_root);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    fu_server_stop(&g_a);
    fu_server_stop(&g_b);
    for (int i = 0; i < g_nimg; i++) free((char *)g_imgs[i][0]);
    tu_rmtree(g_root);
    return 0;
}

/* A fresh work folder per test, with HOME and XDG_CACHE_HOME inside it. */
static char g_work[512];
static int setup(void **state)
{
    (void)state;
    static int k;
    char name[32];
    snprintf(name, sizeof name, "t%d", ++k);
    path2(g_work, sizeof g_work, g_root, name);
    mkdir(g_work, 0755);
    fu_clean_env(g_work);
    return 0;
}

static void url(char *out, size_t n, const fu_server *s, const char *path)
{
    snprintf(out, n, "http://127.0.0.1:%d%s", s->port, path);
}

static void quick_opts(pn_fetch_opts *o)
{
    pn_fetch_opts_init(o);
    o->retries = 0;
    o->backoff_s = 0.05;
    o->stall_timeout_s = 1;
    o->connect_timeout_s = 5;
}

/* ---- weights: full download, reuse ---------------------------------------- */
static void test_weights_full_download(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], path[4096], want[4096], part[4200];
    url(u, sizeof u, &g_a, "/tag=full/weights.pth");
    o.url = u;
    o.expected_sha256_prefix = g_wprefix;
    pn_error err = {0};
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_OK);
    snprintf(want, sizeof want, "%s/xdg/pneumo/weights/resnet18-f37072fd.pth", g_work);
    assert_string_equal(path, want);
    assert_true(fu_same(path, g_weights));
    snprintf(part, sizeof part, "%s.part", path);
    assert_false(pn_path_exists(part));
    assert_int_equal(fu_server_requests(&g_a, "/tag=full/weights.pth", NULL, 0, NULL, 0), 1);
    /* found again without any request; also by the find call */
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_OK);
    assert_int_equal(fu_server_requests(&g_a, "/tag=full/weights.pth", NULL, 0, NULL, 0), 1);
    char found[4096];
    assert_int_equal(pn_fetch_find_weights_opts(&o, found, sizeof found, &err), PN_OK);
    assert_string_equal(found, want);
    /* the real prefix (f37072fd) doesn't match the fake file: not found */
    assert_int_equal(pn_fetch_find_weights_opts(NULL, found, sizeof found, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "pneumo fetch weights"));
    assert_non_null(strstr(err.msg, "--weights FILE"));
    /* the environment variable is the URL when no option is given */
    char envu[256];
    url(envu, sizeof envu, &g_a, "/tag=env/weights.pth");
    setenv("PNEUMO_WEIGHTS_URL", envu, 1);
    o.url = NULL;
    o.force = 1;
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_OK);
    assert_int_equal(fu_server_requests(&g_a, "/tag=env/weights.pth", NULL, 0, NULL, 0), 1);
    assert_true(fu_same(path, g_weights));
}

/* ---- resume -------------------------------------------------------------- */
static void test_resume_after_drop(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], dest[4096], part[4200];
    const char *p = "/drop=100000/tag=resume/weights.pth";
    url(u, sizeof u, &g_a, p);
    path2(dest, sizeof dest, g_work, "w.pth");
    snprintf(part, sizeof part, "%s.part", dest);
    o.expected_sha256_prefix = g_wprefix;
    pn_error err = {0};
    /* no retries: the first call fails and leaves the .part, never dest */
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_E_NET);
    assert_false(pn_path_exists(dest));
    assert_int_equal(fu_size(part), 100000);
    /* the second call asks for the rest only */
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_OK);
    char range[128];
    assert_int_equal(fu_server_requests(&g_a, p, range, sizeof range, NULL, 0), 2);
    assert_string_equal(range, "bytes=100000-");
    assert_true(fu_same(dest, g_weights));
    assert_false(pn_path_exists(part));
}

static void test_resume_by_retry(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    o.retries = 2;
    char u[256], dest[4096];
    const char *p = "/drop=65536/tag=retry/weights.pth";
    url(u, sizeof u, &g_a, p);
    path2(dest, sizeof dest, g_work, "w.pth");
    pn_error err = {0};
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_OK);
    char range[128];
    assert_int_equal(fu_server_requests(&g_a, p, range, sizeof range, NULL, 0), 2);
    assert_string_equal(range, "bytes=65536-");
    assert_true(fu_same(dest, g_weights));
}

/* The file changed on the server between the two attempts: If-Range (the
 * ETag of the first answer) makes the server send the whole new file instead
 * of the rest of it glued onto the start of the old one. */
static void test_resume_file_changed(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], dest[4096], part[4200], served[4096], other[4096];
    path2(served, sizeof served, g_srv, "changing.pth");
    path2(other, sizeof other, g_srv, "other.pth");
    size_t n;
    uint8_t *a = fu_read(other, &n);
    fu_write(served, a, n);
    free(a);
    const char *p = "/drop=100000/changing.pth";
    url(u, sizeof u, &g_a, p);
    path2(dest, sizeof dest, g_work, "w.pth");
    snprintf(part, sizeof part, "%s.part", dest);
    pn_error err = {0};
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_E_NET);
    assert_int_equal(fu_size(part), 100000);
    uint8_t *b = fu_read(g_weights, &n);
    fu_write(served, b, n); /* a new version of the file */
    free(b);
    o.expected_sha256_prefix = g_wprefix;
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_OK);
    assert_true(fu_same(dest, g_weights));
    char range[128];
    assert_int_equal(fu_server_requests(&g_a, p, range, sizeof range, NULL, 0), 2);
    assert_string_equal(range, "bytes=100000-"); /* asked for the rest, got all */
    char list[256];
    assert_string_equal(fu_list(g_work, list, sizeof list), "home,w.pth,xdg"); /* no .part* */
    unlink(served);
}

/* a server that ignores Range: the .part is discarded, the file restarts */
static void test_resume_server_ignores_range(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], dest[4096], part[4200];
    path2(dest, sizeof dest, g_work, "w.pth");
    snprintf(part, sizeof part, "%s.part", dest);
    fu_write(part, "garbage that is not a prefix", 28);
    url(u, sizeof u, &g_a, "/norange/weights.pth");
    pn_error err = {0};
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_OK);
    char range[128];
    assert_int_equal(fu_server_requests(&g_a, "/norange/weights.pth", range, sizeof range, NULL,
                                        0), 1);
    assert_string_equal(range, "bytes=28-");
    assert_true(fu_same(dest, g_weights));
    /* an empty file: a 200 without a body still replaces the stale .part */
    char empty[4096];
    path2(empty, sizeof empty, g_srv, "empty.bin");
    fu_write(empty, "", 0);
    fu_write(part, "stale", 5);
    unlink(dest);
    url(u, sizeof u, &g_a, "/norange/empty.bin");
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_OK);
    assert_int_equal(fu_size(dest), 0);
    assert_false(pn_path_exists(part));
}

/* a 206 whose Content-Range doesn't start where we asked: start over */
static void test_resume_bad_content_range(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], dest[4096], part[4200];
    path2(dest, sizeof dest, g_work, "w.pth");
    snprintf(part, sizeof part, "%s.part", dest);
    size_t n;
    uint8_t *w = fu_read(g_weights, &n);
    fu_write(part, w, 5000);
    free(w);
    url(u, sizeof u, &g_a, "/badrange/weights.pth");
    pn_error err = {0};
    /* no retries: an error that names the Content-Range, no dest */
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_E_NET);
    assert_non_null(strstr(err.msg, "Content-Range"));
    assert_false(pn_path_exists(dest));
    /* with a retry: the .part was emptied, so the retry gets the whole file */
    fu_write(part, "x", 1);
    o.retries = 1;
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_OK);
    assert_true(fu_same(dest, g_weights));
}

/* Progress on stderr, drawn by the CLI's drawer (src/cli/progress.c) from
 * the library's reports: a live line rewritten with \r (terminal), plain
 * lines (not a terminal), or nothing; without a callback the library itself
 * prints nothing. */
static char *capture_download(int mode)
{
    pn_fetch_opts o;
    quick_opts(&o);
    pn_cli_progress bar;
    if (mode >= 0) {
        pn_cli_progress_init(&bar, (pn_cli_progress_mode)mode);
        o.progress = pn_cli_fetch_progress;
        o.progress_user = &bar;
    }
    char u[256], dest[4096], log[4096];
    url(u, sizeof u, &g_a, "/weights.pth");
    path2(dest, sizeof dest, g_work, "w.pth");
    path2(log, sizeof log, g_work, "stderr.txt");
    unlink(dest);
    fflush(stderr);
    int saved = dup(2);
    FILE *f = fopen(log, "w");
    assert_non_null(f);
    dup2(fileno(f), 2);
    pn_error err = {0};
    pn_status st = pn_download(&o, u, NULL, dest, &err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    fclose(f);
    assert_int_equal(st, PN_OK);
    size_t n;
    return (char *)fu_read(log, &n);
}

static void test_progress_output(void **state)
{
    (void)state;
    char *bar = capture_download(PN_CLI_BAR);
    assert_non_null(strstr(bar, "\rw.pth: 300.0 KiB / 300.0 KiB (100%)"));
    assert_non_null(strstr(bar, "/s  ETA "));
    char *lines = capture_download(PN_CLI_LINES);
    assert_null(strchr(lines, '\r'));
    assert_non_null(strstr(lines, "w.pth: 300.0 KiB / 300.0 KiB (100%)"));
    /* the 100% line once, not again at the end */
    const char *first = strstr(lines, "(100%)");
    assert_null(strstr(first + 1, "(100%)"));
    char *quiet = capture_download(PN_CLI_QUIET);
    assert_string_equal(quiet, "");
    char *none = capture_download(-1); /* no callback: the library is silent */
    assert_string_equal(none, "");
    free(bar);
    free(lines);
    free(quiet);
    free(none);
}

/* Two downloads of the same file at once: the second stops (the .part is
 * locked) and leaves the first one's .part alone. */
static void test_concurrent_download_locked(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], dest[4096], part[4200];
    path2(dest, sizeof dest, g_work, "w.pth");
    snprintf(part, sizeof part, "%s.part", dest);
    fu_write(part, "12345", 5);
    int fd = open(part, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);
    url(u, sizeof u, &g_a, "/tag=locked/weights.pth");
    pn_error err = {0};
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_E_IO);
    assert_non_null(strstr(err.msg, "another pneumo"));
    assert_int_equal(fu_server_requests(&g_a, "/tag=locked/weights.pth", NULL, 0, NULL, 0), 0);
    assert_int_equal(fu_size(part), 5);
    close(fd);
    /* and once it is free, the download resumes from it: the file differs,
     * the server has no validator from us, so bytes 0-4 stay "12345" and the
     * checksum catches it */
    o.expected_sha256_prefix = g_wprefix;
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_E_FORMAT);
    assert_false(pn_path_exists(dest));
    assert_false(pn_path_exists(part));
}

/* ---- verification --------------------------------------------------------- */
static void test_wrong_checksum(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], path[4096], dir[4096];
    /* the server hands out the wrong file */
    url(u, sizeof u, &g_a, "/wrong=other.pth/weights.pth");
    o.url = u;
    o.expected_sha256_prefix = g_wprefix;
    path2(dir, sizeof dir, g_work, "wdir");
    o.dest_dir = dir;
    pn_error err = {0};
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_non_null(strstr(err.msg, g_wprefix));
    char list[256];
    assert_string_equal(fu_list(dir, list, sizeof list), ""); /* nothing left behind */
    /* an explicit size that doesn't match is refused too */
    url(u, sizeof u, &g_a, "/weights.pth");
    o.expected_size = 1000;
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_E_FORMAT);
    assert_string_equal(fu_list(dir, list, sizeof list), "");
}

/* ---- HTTP errors ------------------------------------------------------------ */
static void test_http_404(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    o.retries = 3;
    char u[256], path[4096], dir[4096];
    url(u, sizeof u, &g_a, "/no-such-file.pth");
    o.url = u;
    path2(dir, sizeof dir, g_work, "wdir");
    o.dest_dir = dir;
    pn_error err = {0};
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_E_NET);
    assert_non_null(strstr(err.msg, "HTTP 404"));
    assert_non_null(strstr(err.msg, "--weights FILE"));
    assert_non_null(strstr(err.msg, "wdir/resnet18-f37072fd.pth)")); /* where to put it by hand */
    assert_int_equal(fu_server_requests(&g_a, "/no-such-file.pth", NULL, 0, NULL, 0), 1);
    char list[256];
    assert_string_equal(fu_list(dir, list, sizeof list), "");
}

static void test_http_500_retries(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], dest[4096];
    path2(dest, sizeof dest, g_work, "w.pth");
    /* two 500s, then the file: 3 requests */
    o.retries = 3;
    url(u, sizeof u, &g_a, "/fail=2/weights.pth");
    pn_error err = {0};
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_OK);
    assert_int_equal(fu_server_requests(&g_a, "/fail=2/weights.pth", NULL, 0, NULL, 0), 3);
    assert_true(fu_same(dest, g_weights));
    /* always 500: gives up after 1 + retries attempts */
    unlink(dest);
    o.retries = 2;
    url(u, sizeof u, &g_a, "/status=503/weights.pth");
    double t0 = pn_now();
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_E_NET);
    double dt = pn_now() - t0;
    assert_non_null(strstr(err.msg, "HTTP 503"));
    assert_non_null(strstr(err.msg, "after 3 attempts"));
    assert_int_equal(fu_server_requests(&g_a, "/status=503/weights.pth", NULL, 0, NULL, 0), 3);
    assert_true(dt >= 0.05 + 0.1 - 0.01); /* backoff 0.05 then 0.1 */
    assert_false(pn_path_exists(dest));
}

static void test_kaggle_401(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], path[4096], dir[4096];
    url(u, sizeof u, &g_a, "/auth=alice:secret/data.zip");
    o.url = u;
    path2(dir, sizeof dir, g_work, "ds");
    o.dest_dir = dir;
    pn_error err = {0};
    /* anonymous */
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_E_NET);
    assert_non_null(strstr(err.msg, "401"));
    assert_non_null(strstr(err.msg, "KAGGLE_USERNAME"));
    assert_non_null(strstr(err.msg, "kaggle.json"));
    assert_non_null(strstr(err.msg, "--from"));
    char list[256];
    assert_string_equal(fu_list(dir, list, sizeof list), "");
    /* wrong credentials: the message names where they came from */
    setenv("KAGGLE_USERNAME", "alice", 1);
    setenv("KAGGLE_KEY", "wrong", 1);
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_E_NET);
    assert_non_null(strstr(err.msg, "rejected the credentials from KAGGLE_USERNAME"));
    char auth[256];
    fu_server_requests(&g_a, "/auth=alice:secret/data.zip", NULL, 0, auth, sizeof auth);
    assert_string_equal(auth, "Basic YWxpY2U6d3Jvbmc="); /* base64("alice:wrong") */
}

/* Kaggle answers with a redirect to a storage host: credentials go to Kaggle
 * only (the second server is another host:port). */
static void test_kaggle_download_redirect(void **state)
{
    (void)state;
    char kdir[4096], json[4200];
    path2(kdir, sizeof kdir, g_work, "kaggle");
    mkdir(kdir, 0700);
    path2(json, sizeof json, kdir, "kaggle.json");
    const char *cred = "{\"username\": \"alice\", \"key\": \"secret\"}";
    fu_write(json, cred, strlen(cred));
    setenv("KAGGLE_CONFIG_DIR", kdir, 1);

    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], path[4096], p[128], want[4096];
    snprintf(p, sizeof p, "/auth=alice:secret/redirect=%d/tag=kaggle/data.zip", g_b.port);
    url(u, sizeof u, &g_a, p);
    setenv("PNEUMO_KAGGLE_URL", u, 1);
    pn_error err = {0};
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_OK);
    snprintf(want, sizeof want, "%s/xdg/pneumo/datasets/chest-xray-pneumonia", g_work);
    assert_string_equal(path, want);
    char auth[256];
    assert_int_equal(fu_server_requests(&g_a, p, NULL, 0, auth, sizeof auth), 1);
    assert_string_equal(auth, "Basic YWxpY2U6c2VjcmV0"); /* base64("alice:secret") */
    assert_int_equal(fu_server_requests(&g_b, "/tag=kaggle/data.zip", NULL, 0, auth, sizeof auth),
                     1);
    assert_string_equal(auth, ""); /* not sent to the storage host */
    /* the unpacked images are the shared ones, byte for byte */
    for (int i = 0; i < g_nimg; i++) {
        char f[4200];
        path2(f, sizeof f, path, g_imgs[i][1]);
        assert_true(fu_same(f, g_imgs[i][0]));
    }
    char list[256];
    assert_string_equal(fu_list(path, list, sizeof list), "test,train,val");
    char dir[4200];
    path2(dir, sizeof dir, g_work, "xdg/pneumo/datasets");
    assert_string_equal(fu_list(dir, list, sizeof list), "chest-xray-pneumonia"); /* zip removed */
    assert_int_equal(pn_fetch_find_dataset_opts(NULL, want, sizeof want, &err), PN_OK);
    assert_string_equal(want, path);
}

static void test_stall_times_out(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], dest[4096], part[4200];
    url(u, sizeof u, &g_a, "/stall=1000/weights.pth");
    path2(dest, sizeof dest, g_work, "w.pth");
    snprintf(part, sizeof part, "%s.part", dest);
    pn_error err = {0};
    double t0 = pn_now();
    assert_int_equal(pn_download(&o, u, NULL, dest, &err), PN_E_NET);
    double dt = pn_now() - t0;
    assert_non_null(strstr(err.msg, "timed out"));
    assert_true(dt >= 0.9 && dt < 10);
    assert_false(pn_path_exists(dest));
    assert_int_equal(fu_size(part), 1000); /* kept for resuming */
}

static void test_no_network(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    o.retries = 1;
    char u[256], path[4096], dir[4096];
    snprintf(u, sizeof u, "http://127.0.0.1:%d/weights.pth", fu_closed_port());
    o.url = u;
    path2(dir, sizeof dir, g_work, "wdir");
    o.dest_dir = dir;
    pn_error err = {0};
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_E_NET);
    assert_non_null(strstr(err.msg, "after 2 attempts"));
    assert_non_null(strstr(err.msg, "without network"));
    assert_non_null(strstr(err.msg, "--weights FILE"));
    assert_null(strchr(err.msg, '\n'));
    char list[256];
    assert_string_equal(fu_list(dir, list, sizeof list), "");
    /* the data set: the message names --from and --data */
    o.url = NULL;
    setenv("PNEUMO_KAGGLE_URL", u, 1);
    o.retries = 0;
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_E_NET);
    assert_non_null(strstr(err.msg, "pneumo fetch dataset --from chest-xray-pneumonia.zip"));
    assert_non_null(strstr(err.msg, "--data DIR"));
    /* without an error struct the status is still the failure */
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, NULL), PN_E_NET);
    o.url = u;
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, NULL), PN_E_NET);
}

static void test_proxy_error(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256], proxy[128], dest[4096];
    url(u, sizeof u, &g_a, "/weights.pth");
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", fu_closed_port());
    unsetenv("no_proxy");
    setenv("http_proxy", proxy, 1);
    path2(dest, sizeof dest, g_work, "w.pth");
    pn_error err = {0};
    pn_status st = pn_download(&o, u, NULL, dest, &err);
    unsetenv("http_proxy");
    assert_int_equal(st, PN_E_NET);
    assert_non_null(strstr(err.msg, "proxy"));
    assert_non_null(strstr(err.msg, proxy));
    assert_false(pn_path_exists(dest));
}

/* ---- unpacking ---------------------------------------------------------------- */
static void expect_refused(const fu_entry *e, size_t n, const char *why)
{
    char zip[4096], dest[4096], list[256];
    path2(zip, sizeof zip, g_work, "bad.zip");
    fu_make_zip(zip, e, n);
    path2(dest, sizeof dest, g_work, "out/ds");
    pn_error err = {0};
    assert_int_equal(pn__unpack_dataset(zip, dest, &err), PN_E_FORMAT);
    if (!strstr(err.msg, why)) fail_msg("message '%s' lacks '%s'", err.msg, why);
    /* nothing written: not the destination, no temporary, nothing outside */
    char out[4096];
    path2(out, sizeof out, g_work, "out");
    assert_string_equal(fu_list(out, list, sizeof list), "");
    assert_string_equal(fu_list(g_work, list, sizeof list), "bad.zip,home,out,xdg");
}

static void test_zip_dotdot_refused(void **state)
{
    (void)state;
    fu_entry e[] = {{"chest_xray/train/NORMAL/a.jpeg", FU_FILE, NULL, "a"},
                    {"chest_xray/train/NORMAL/../../../../escape.txt", FU_FILE, NULL, "x"},
                    {"chest_xray/val/NORMAL/b.jpeg", FU_FILE, NULL, "b"}};
    expect_refused(e, 3, "'..' escapes");
    fu_entry e2[] = {{"../escape.txt", FU_FILE, NULL, "x"}};
    expect_refused(e2, 1, "'..' escapes");
}

static void test_zip_absolute_refused(void **state)
{
    (void)state;
    char abs[4096];
    path2(abs, sizeof abs, g_work, "abs-escape.txt");
    fu_entry e[] = {{"chest_xray/train/NORMAL/a.jpeg", FU_FILE, NULL, "a"},
                    {abs, FU_FILE, NULL, "x"}};
    expect_refused(e, 2, "absolute path");
    assert_false(pn_path_exists(abs));
}

static void test_zip_links_refused(void **state)
{
    (void)state;
    fu_entry e[] = {{"chest_xray/train/NORMAL/a.jpeg", FU_FILE, NULL, "a"},
                    {"chest_xray/train/NORMAL/link.jpeg", FU_SYMLINK, NULL, "/etc/passwd"}};
    expect_refused(e, 2, "symbolic link");
    /* a FIFO (Unix mode in the external attributes) is no file either; zip
     * itself has no hard-link entries */
    fu_entry f[] = {{"chest_xray/train/NORMAL/a.jpeg", FU_FILE, NULL, "a"},
                    {"chest_xray/train/NORMAL/fifo", FU_FIFO, NULL, ""}};
    expect_refused(f, 2, "not a file or folder");
}

static void test_zip_corrupt(void **state)
{
    (void)state;
    size_t n;
    uint8_t *z = fu_read(g_zip, &n);
    char zip[4096], dest[4096], list[256], out[4096];
    path2(zip, sizeof zip, g_work, "bad.zip");
    path2(out, sizeof out, g_work, "out");
    path2(dest, sizeof dest, out, "ds");
    pn_error err = {0};
    /* flipped bytes inside the compressed data of the first (largest) image */
    uint8_t *c = malloc(n);
    memcpy(c, z, n);
    for (size_t i = 2000; i < 2100; i++) c[i] ^= 0x5a;
    fu_write(zip, c, n);
    assert_int_equal(pn__unpack_dataset(zip, dest, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "corrupt zip"));
    assert_string_equal(fu_list(out, list, sizeof list), "");
    /* truncated to half */
    fu_write(zip, z, n / 2);
    assert_int_equal(pn__unpack_dataset(zip, dest, &err), PN_E_FORMAT);
    if (strstr(err.msg, "(null)") || !strstr(err.msg, "truncated"))
        fail_msg("truncated zip: '%s' should say truncated, with no (null)", err.msg);
    assert_string_equal(fu_list(out, list, sizeof list), "");
    /* not a zip at all */
    fu_write(zip, "this is not a zip file at all, just text", 40);
    assert_int_equal(pn__unpack_dataset(zip, dest, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, zip));
    assert_string_equal(fu_list(out, list, sizeof list), "");
    free(c);
    free(z);
    /* a fine zip without the layout */
    fu_entry e[] = {{"photos/cat.jpeg", FU_FILE, NULL, "meow"}};
    fu_make_zip(zip, e, 1);
    assert_int_equal(pn__unpack_dataset(zip, dest, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "NORMAL"));
    assert_string_equal(fu_list(out, list, sizeof list), "");
    /* a downloaded corrupt zip is removed so the next run fetches it again */
    fu_write(zip, "this is not a zip file at all, just text", 40);
    char srvzip[4096], u[256], path[4096];
    path2(srvzip, sizeof srvzip, g_srv, "corrupt.zip");
    fu_write(srvzip, "this is not a zip file at all, just text", 40);
    pn_fetch_opts o;
    quick_opts(&o);
    url(u, sizeof u, &g_a, "/corrupt.zip");
    o.url = u;
    o.dest_dir = out;
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "removed"));
    assert_string_equal(fu_list(out, list, sizeof list), "");
}

static void test_from_zip(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    o.from_zip = g_zip;
    o.url = "http://127.0.0.1:1/never-used";
    char path[4096], want[4096], list[256];
    pn_error err = {0};
    int before = fu_server_total(&g_a);
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_OK);
    snprintf(want, sizeof want, "%s/xdg/pneumo/datasets/chest-xray-pneumonia", g_work);
    assert_string_equal(path, want);
    assert_int_equal(fu_server_total(&g_a), before);
    for (int i = 0; i < g_nimg; i++) {
        char f[4200];
        path2(f, sizeof f, path, g_imgs[i][1]);
        assert_true(fu_same(f, g_imgs[i][0]));
    }
    /* duplicate chest_xray/chest_xray/ and __MACOSX/ left out */
    assert_string_equal(fu_list(path, list, sizeof list), "test,train,val");
    char f[4200];
    path2(f, sizeof f, path, "train/NORMAL");
    assert_int_equal((int)strlen(fu_list(f, list, sizeof list)) > 0, 1);
    assert_null(strchr(list, ','));
    /* again: already there */
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_OK);
    /* --force replaces it (a file added by hand disappears) */
    path2(f, sizeof f, path, "extra.txt");
    fu_write(f, "x", 1);
    o.force = 1;
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_OK);
    assert_false(pn_path_exists(f));
    assert_true(pn__fetch_layout_ok(path));
    char dir[4200];
    path2(dir, sizeof dir, g_work, "xdg/pneumo/datasets");
    assert_string_equal(fu_list(dir, list, sizeof list), "chest-xray-pneumonia");
    /* a missing zip */
    o.from_zip = "/nonexistent/chest-xray-pneumonia.zip";
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/chest-xray-pneumonia.zip"));
}

/* ---- reuse of other caches ----------------------------------------------------- */
static void make_layout(const char *dir)
{
    for (int s = 0; s < 3; s++)
        for (int c = 0; c < 2; c++) {
            char p[4200];
            snprintf(p, sizeof p, "%s/%s/%s", dir, SPLITS[s], CLASSES[c]);
            assert_int_equal(pn_mkdirs(p, NULL), PN_OK);
        }
}

/* Leftovers of a run that died are cleaned up; a data set moved aside by a
 * dead --force run is put back. */
static void test_stale_leftovers(void **state)
{
    (void)state;
    pid_t dead = fork();
    if (dead == 0) _exit(0);
    waitpid(dead, NULL, 0);
    char dir[4096], p[4400], list[512], path[4096];
    snprintf(dir, sizeof dir, "%s/xdg/pneumo/datasets", g_work);
    snprintf(p, sizeof p, "%s/chest-xray-pneumonia.unpack.%ld/train", dir, (long)dead);
    assert_int_equal(pn_mkdirs(p, NULL), PN_OK);
    snprintf(p, sizeof p, "%s/chest-xray-pneumonia.new.%ld.unpack.%ld", dir, (long)dead,
             (long)dead);
    assert_int_equal(pn_mkdirs(p, NULL), PN_OK);
    snprintf(p, sizeof p, "%s/chest-xray-pneumonia.old.%ld", dir, (long)dead);
    make_layout(p);
    /* a live process's temporary is left alone */
    snprintf(p, sizeof p, "%s/chest-xray-pneumonia.unpack.%ld", dir, (long)getppid());
    assert_int_equal(pn_mkdirs(p, NULL), PN_OK);
    pn_fetch_opts o;
    quick_opts(&o);
    o.from_zip = g_zip;
    pn_error err = {0};
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_OK);
    char want[600];
    snprintf(want, sizeof want, "chest-xray-pneumonia,chest-xray-pneumonia.unpack.%ld",
             (long)getppid());
    assert_string_equal(fu_list(dir, list, sizeof list), want);
    /* the one put back is the old (empty-folder) data set, not the zip's */
    char f[4200];
    path2(f, sizeof f, path, "train/NORMAL");
    assert_string_equal(fu_list(f, list, sizeof list), "");
}

static void test_reuse_kagglehub(void **state)
{
    (void)state;
    char base[4096], v1[4200], v2[4200], path[4096];
    snprintf(base, sizeof base,
             "%s/home/.cache/kagglehub/datasets/paultimothymooney/chest-xray-pneumonia/versions",
             g_work);
    snprintf(v1, sizeof v1, "%s/1/chest_xray", base);
    snprintf(v2, sizeof v2, "%s/2/chest_xray", base);
    make_layout(v1);
    make_layout(v2);
    char dup[4300];
    snprintf(dup, sizeof dup, "%s/chest_xray", v2); /* Kaggle's nested duplicate */
    make_layout(dup);
    pn_error err = {0};
    assert_int_equal(pn_fetch_find_dataset_opts(NULL, path, sizeof path, &err), PN_OK);
    assert_string_equal(path, v2);
    /* pn_fetch_dataset reuses it without a request */
    pn_fetch_opts o;
    quick_opts(&o);
    char u[256];
    url(u, sizeof u, &g_a, "/status=500/never.zip");
    o.url = u;
    assert_int_equal(pn_fetch_dataset(&o, path, sizeof path, &err), PN_OK);
    assert_string_equal(path, v2);
    assert_int_equal(fu_server_requests(&g_a, "/status=500/never.zip", NULL, 0, NULL, 0), 0);
    /* --no-reuse looks only in our cache */
    o.no_reuse = 1;
    assert_int_equal(pn_fetch_find_dataset_opts(&o, path, sizeof path, &err), PN_E_NOTFOUND);
    /* KAGGLEHUB_CACHE moves the cache; a version without train/ is skipped */
    char hub[4096], v3[4300];
    path2(hub, sizeof hub, g_work, "hub");
    snprintf(v3, sizeof v3,
             "%s/datasets/paultimothymooney/chest-xray-pneumonia/versions/3/chest_xray/train",
             hub);
    assert_int_equal(pn_mkdirs(v3, NULL), PN_OK);
    snprintf(v3, sizeof v3, "%s/datasets/paultimothymooney/chest-xray-pneumonia/versions/1", hub);
    make_layout(v3); /* train/ etc. directly in the version folder */
    setenv("KAGGLEHUB_CACHE", hub, 1);
    assert_int_equal(pn_fetch_find_dataset_opts(NULL, path, sizeof path, &err), PN_OK);
    assert_string_equal(path, v3);
    /* nothing anywhere: the message says how to get it */
    setenv("KAGGLEHUB_CACHE", "/nonexistent", 1);
    assert_int_equal(pn_fetch_find_dataset_opts(NULL, path, sizeof path, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "pneumo fetch dataset --from chest-xray-pneumonia.zip"));
    assert_non_null(strstr(err.msg, "--data DIR"));
}

static void test_reuse_torch_cache(void **state)
{
    (void)state;
    pn_fetch_opts o;
    quick_opts(&o);
    o.expected_sha256_prefix = g_wprefix;
    char u[256], ck[4300], f[4400], path[4096];
    url(u, sizeof u, &g_a, "/status=500/never.pth");
    o.url = u;
    /* default TORCH_HOME: $XDG_CACHE_HOME/torch */
    snprintf(ck, sizeof ck, "%s/xdg/torch/hub/checkpoints", g_work);
    assert_int_equal(pn_mkdirs(ck, NULL), PN_OK);
    path2(f, sizeof f, ck, "resnet18-f37072fd.pth");
    size_t n;
    uint8_t *w = fu_read(g_weights, &n);
    fu_write(f, w, n);
    pn_error err = {0};
    assert_int_equal(pn_fetch_weights(&o, path, sizeof path, &err), PN_OK);
    assert_string_equal(path, f);
    assert_int_equal(fu_server_requests(&g_a, "/status=500/never.pth", NULL, 0, NULL, 0), 0);
    /* $TORCH_HOME */
    char th[4096];
    path2(th, sizeof th, g_work, "th");
    snprintf(ck, sizeof ck, "%s/hub/checkpoints", th);
    assert_int_equal(pn_mkdirs(ck, NULL), PN_OK);
    path2(f, sizeof f, ck, "resnet18-f37072fd.pth");
    fu_write(f, w, n);
    setenv("TORCH_HOME", th, 1);
    assert_int_equal(pn_fetch_find_weights_opts(&o, path, sizeof path, &err), PN_OK);
    assert_string_equal(path, f);
    /* a file with the wrong hash is not reused */
    w[10] ^= 1;
    fu_write(f, w, n);
    free(w);
    assert_int_equal(pn_fetch_find_weights_opts(&o, path, sizeof path, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, f));
}

static void test_kaggle_credentials(void **state)
{
    (void)state;
    char user[64], key[64], src[4096], json[4200];
    pn_error err = {0};
    assert_int_equal(pn__kaggle_credentials(user, sizeof user, key, sizeof key, src, sizeof src,
                                           &err),
                     PN_E_NOTFOUND);
    /* ~/.kaggle/kaggle.json */
    snprintf(json, sizeof json, "%s/home/.kaggle", g_work);
    mkdir(json, 0700);
    strcat(json, "/kaggle.json");
    fu_write(json, "{\"username\":\"bob\",\"key\":\"k1\"}", 30);
    assert_int_equal(pn__kaggle_credentials(user, sizeof user, key, sizeof key, src, sizeof src,
                                           &err),
                     PN_OK);
    assert_string_equal(user, "bob");
    assert_string_equal(key, "k1");
    assert_string_equal(src, json);
    /* the environment wins */
    setenv("KAGGLE_USERNAME", "eve", 1);
    setenv("KAGGLE_KEY", "k2", 1);
    assert_int_equal(pn__kaggle_credentials(user, sizeof user, key, sizeof key, src, sizeof src,
                                           &err),
                     PN_OK);
    assert_string_equal(user, "eve");
    unsetenv("KAGGLE_USERNAME");
    unsetenv("KAGGLE_KEY");
    /* broken files */
    fu_write(json, "{\"username\":\"bob\"}", 18);
    assert_int_equal(pn__kaggle_credentials(user, sizeof user, key, sizeof key, src, sizeof src,
                                           &err),
                     PN_E_FORMAT);
    assert_non_null(strstr(err.msg, json));
    fu_write(json, "not json", 8);
    assert_int_equal(pn__kaggle_credentials(user, sizeof user, key, sizeof key, src, sizeof src,
                                           &err),
                     PN_E_FORMAT);
}

/* ---- a full disk: a 256 KiB tmpfs (needs root; skipped otherwise) ----------- */
/* ---- helpers --------------------------------------------------------------- */
static void test_disk_full(void **state)
{
    (void)state;
    char mnt[4096];
    path2(mnt, sizeof mnt, g_work, "small");
    mkdir(mnt, 0755);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=256k") != 0) {
        fprintf(stderr, "skipping the disk-full test: cannot mount a tmpfs (%s)\n",
                strerror(errno));
        skip();
    }
    pn_fetch_opts o;
    quick_opts(&o);
    o.retries = 2;
    char u[256], path[4096], list[256];
    url(u, sizeof u, &g_a, "/weights.pth"); /* 300 KiB > 256 KiB */
    o.url = u;
    o.expected_sha256_prefix = g_wprefix;
    o.dest_dir = mnt;
    pn_error err = {0};
    /* size announced: refused before the first byte is written */
    pn_status st0 = pn_fetch_weights(&o, path, sizeof path, &err);
    char msg0[PN_ERROR_MSG_MAX], list0[256];
    snprintf(msg0, sizeof msg0, "%s", err.msg);
    fu_list(mnt, list0, sizeof list0);
    /* size unknown (no Content-Length): writing hits ENOSPC */
    url(u, sizeof u, &g_a, "/nolength/weights.pth");
    pn_status st = pn_fetch_weights(&o, path, sizeof path, &err);
    char list1[256];
    fu_list(mnt, list1, sizeof list1);
    /* unpacking: refused before writing (free space < uncompressed size) */
    char dest[4200];
    path2(dest, sizeof dest, mnt, "ds");
    pn_error err2 = {0};
    pn_status st2 = pn__unpack_dataset(g_zip, dest, &err2);
    fu_list(mnt, list, sizeof list);
    umount(mnt);
    assert_int_equal(st0, PN_E_IO);
    if (!strstr(msg0, "not enough free space")) fail_msg("unexpected: %s", msg0);
    assert_string_equal(list0, "");
    assert_int_equal(st, PN_E_IO);
    assert_non_null(strstr(err.msg, "disk full"));
    assert_string_equal(list1, ""); /* no .part, no file */
    assert_int_equal(st2, PN_E_IO);
    assert_non_null(strstr(err2.msg, "not enough free space"));
    assert_string_equal(list, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_weights_full_download, setup),
        cmocka_unit_test_setup(test_resume_after_drop, setup),
        cmocka_unit_test_setup(test_resume_by_retry, setup),
        cmocka_unit_test_setup(test_resume_file_changed, setup),
        cmocka_unit_test_setup(test_resume_server_ignores_range, setup),
        cmocka_unit_test_setup(test_resume_bad_content_range, setup),
        cmocka_unit_test_setup(test_progress_output, setup),
        cmocka_unit_test_setup(test_concurrent_download_locked, setup),
        cmocka_unit_test_setup(test_wrong_checksum, setup),
        cmocka_unit_test_setup(test_http_404, setup),
        cmocka_unit_test_setup(test_http_500_retries, setup),
        cmocka_unit_test_setup(test_kaggle_401, setup),
        cmocka_unit_test_setup(test_kaggle_download_redirect, setup),
        cmocka_unit_test_setup(test_stall_times_out, setup),
        cmocka_unit_test_setup(test_no_network, setup),
        cmocka_unit_test_setup(test_proxy_error, setup),
        cmocka_unit_test_setup(test_zip_dotdot_refused, setup),
        cmocka_unit_test_setup(test_zip_absolute_refused, setup),
        cmocka_unit_test_setup(test_zip_links_refused, setup),
        cmocka_unit_test_setup(test_zip_corrupt, setup),
        cmocka_unit_test_setup(test_from_zip, setup),
        cmocka_unit_test_setup(test_stale_leftovers, setup),
        cmocka_unit_test_setup(test_reuse_kagglehub, setup),
        cmocka_unit_test_setup(test_reuse_torch_cache, setup),
        cmocka_unit_test_setup(test_kaggle_credentials, setup),
        cmocka_unit_test_setup(test_disk_full, setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
