/* Helpers for the fetch tests; see fetch_util.h. Included (not linked) by
 * tests/test_fetch*.c, since only tests/util/ is linked into every test. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <zip.h>

#include "fetch_util.h"
#include "pneumo/util.h"
#include "testutil.h"

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

void fu_server_start(fu_server *s, const char *root, const char *workdir)
{
    memset(s, 0, sizeof *s);
    snprintf(s->root, sizeof s->root, "%s", root);
    char portfile[4200], script[4200];
    static int counter;
    counter++;
    snprintf(portfile, sizeof portfile, "%s/port.%d", workdir, counter);
    snprintf(s->log, sizeof s->log, "%s/requests.%d.log", workdir, counter);
    snprintf(script, sizeof script, "%s/tests/server/fileserver.py", tu_root());
    const char *py = getenv("PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    unlink(portfile);
    fu_write(s->log, "", 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(py, py, script, "--root", root, "--port-file", portfile, "--log", s->log,
              "--max-seconds", "300", (char *)NULL);
        _exit(127);
    }
    s->pid = pid;
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(portfile, "r");
        if (f) {
            int ok = fscanf(f, "%d", &s->port) == 1;
            fclose(f);
            if (ok && s->port > 0) return;
        }
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) fail_msg("test server exited early (%s)", script);
        nap(0.05);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("test server did not start within 10 s");
}

void fu_server_stop(fu_server *s)
{
    if (s->pid <= 0) return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        nap(0.05);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static void copy_str(char *dst, size_t n, const cJSON *v)
{
    if (!dst) return;
    snprintf(dst, n, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

int fu_server_requests(const fu_server *s, const char *path, char *range, size_t range_n,
                       char *auth, size_t auth_n)
{
    size_t n;
    uint8_t *d = fu_read(s->log, &n);
    if (!d) return 0;
    int count = 0;
    char *save = NULL;
    for (char *line = strtok_r((char *)d, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(j, "path");
        if (cJSON_IsString(p) && (!path || !strcmp(p->valuestring, path))) {
            count++;
            copy_str(range, range_n, cJSON_GetObjectItemCaseSensitive(j, "range"));
            copy_str(auth, auth_n, cJSON_GetObjectItemCaseSensitive(j, "auth"));
        }
        cJSON_Delete(j);
    }
    free(d);
    return count;
}

int fu_server_total(const fu_server *s) { return fu_server_requests(s, NULL, NULL, 0, NULL, 0); }

void fu_make_zip(const char *path, const fu_entry *e, size_t n)
{
    unlink(path);
    int ze = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_EXCL, &ze);
    if (!z) fail_msg("%s: zip_open failed (%d)", path, ze);
    uint8_t **bufs = calloc(n ? n : 1, sizeof *bufs); /* alive until zip_close */
    assert_non_null(bufs);
    for (size_t i = 0; i < n; i++) {
        zip_int64_t idx;
        mode_t mode;
        if (e[i].kind == FU_DIR) {
            idx = zip_dir_add(z, e[i].name, ZIP_FL_ENC_UTF_8);
            mode = S_IFDIR | 0755;
        } else {
            const void *data = e[i].data;
            size_t len = 0;
            if (e[i].kind == FU_FILE && e[i].src) {
                bufs[i] = fu_read(e[i].src, &len);
                if (!bufs[i]) fail_msg("cannot read %s", e[i].src);
                data = bufs[i];
            } else {
                len = strlen(e[i].data);
            }
            zip_source_t *src = zip_source_buffer(z, data, len, 0);
            assert_non_null(src);
            idx = zip_file_add(z, e[i].name, src, ZIP_FL_ENC_UTF_8);
            if (idx < 0) zip_source_free(src);
            mode = e[i].kind == FU_SYMLINK ? S_IFLNK | 0777
                   : e[i].kind == FU_FIFO  ? S_IFIFO | 0644
                                           : S_IFREG | 0644;
        }
        if (idx < 0) fail_msg("%s: cannot add '%s': %s", path, e[i].name, zip_strerror(z));
        assert_int_equal(zip_file_set_external_attributes(z, (zip_uint64_t)idx, 0,
                                                          ZIP_OPSYS_UNIX, (zip_uint32_t)mode << 16),
                         0);
        assert_int_equal(zip_file_set_mtime(z, (zip_uint64_t)idx, 1600000000, 0), 0);
    }
    if (zip_close(z) != 0) fail_msg("%s: zip_close: %s", path, zip_strerror(z));
    for (size_t i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
}

void fu_write(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail_msg("cannot write %s: %s", path, strerror(errno));
    if (n) assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

uint8_t *fu_read(const char *path, size_t *n)
{
    uint8_t *d;
    if (pn_read_file(path, (size_t)1 << 30, &d, n, NULL) != PN_OK) return NULL;
    return d;
}

int fu_same(const char *a, const char *b)
{
    size_t na, nb;
    uint8_t *da = fu_read(a, &na), *db = fu_read(b, &nb);
    int same = da && db && na == nb && !memcmp(da, db, na);
    free(da);
    free(db);
    return same;
}

int64_t fu_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

const char *fu_list(const char *dir, char *out, size_t n)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    if (!d) return out;
    char *names[256];
    size_t k = 0;
    struct dirent *e;
    while ((e = readdir(d)) && k < 256)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[k++] = strdup(e->d_name);
    closedir(d);
    qsort(names, k, sizeof *names, cmp_names);
    size_t len = 0;
    for (size_t i = 0; i < k; i++) {
        int w = snprintf(out + len, n - len, "%s%s", i ? "," : "", names[i]);
        if (w > 0 && (size_t)w < n - len) len += (size_t)w;
        free(names[i]);
    }
    return out;
}

int fu_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    close(fd);
    return ntohs(a.sin_port);
}

void fu_sha_prefix(const char *path, char out[9])
{
    uint8_t h[32];
    char hex[65];
    assert_int_equal(pn_sha256_file(path, h, NULL), PN_OK);
    pn_hex(h, 32, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

void fu_clean_env(const char *dir)
{
    static const char *vars[] = {"KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR",
                                 "KAGGLEHUB_CACHE", "TORCH_HOME", "PNEUMO_KAGGLE_URL",
                                 "PNEUMO_WEIGHTS_URL", "http_proxy", "https_proxy", "HTTP_PROXY",
                                 "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "XDG_CONFIG_HOME"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) unsetenv(vars[i]);
    char p[4200];
    snprintf(p, sizeof p, "%s/home", dir);
    mkdir(p, 0755);
    setenv("HOME", p, 1);
    snprintf(p, sizeof p, "%s/xdg", dir);
    mkdir(p, 0755);
    setenv("XDG_CACHE_HOME", p, 1);
    setenv("no_proxy", "127.0.0.1", 1);
}
