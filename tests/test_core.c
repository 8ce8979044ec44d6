/* Core: error messages, state dicts, atomic writes, SHA-256. */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/files.h"
#include "pneumo.h"

static void test_error_prefix(void **state)
{
    (void)state;
    pn_error err = {0};
    assert_int_equal(pn_error_set(&err, PN_E_FORMAT, "bad magic %d", 7), PN_E_FORMAT);
    pn_error_prefix(&err, "%s: ", "model.pth");
    assert_string_equal(err.msg, "model.pth: bad magic 7");
    assert_int_equal(err.code, PN_E_FORMAT);
    assert_int_equal(pn_error_set(NULL, PN_E_IO, "x"), PN_E_IO);
}

static void test_statedict(void **state)
{
    (void)state;
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_error err = {0};
    int64_t shape[2] = {2, 3};
    float v[6] = {1, 2, 3, 4, 5, 6};
    for (int i = 0; i < 40; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d", i);
        assert_int_equal(pn_statedict_add(&sd, name, PN_F32, 2, shape, v, NULL, &err), PN_OK);
    }
    assert_int_equal(pn_statedict_add(&sd, "t3", PN_F32, 2, shape, v, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "t3"));
    pn_tensor *t = pn_statedict_find(&sd, "t39");
    assert_non_null(t);
    assert_int_equal(t->numel, 6);
    assert_true(((float *)t->data)[5] == 6.0f);
    assert_int_equal(pn_statedict_remove(&sd, "t0"), 1);
    assert_null(pn_statedict_find(&sd, "t0"));
    assert_int_equal(sd.n, 39);
    assert_string_equal(sd.t[0].name, "t1");
    int64_t big[3] = {INT64_C(1) << 40, INT64_C(1) << 40, 1 << 20};
    assert_int_equal(pn_statedict_add(&sd, "huge", PN_F32, 3, big, NULL, NULL, &err), PN_E_ARG);
    assert_int_equal(pn_statedict_set_meta(&sd, "k", "v1", &err), PN_OK);
    assert_int_equal(pn_statedict_set_meta(&sd, "k", "v2", &err), PN_OK);
    assert_string_equal(pn_statedict_get_meta(&sd, "k"), "v2");
    assert_null(pn_statedict_get_meta(&sd, "nope"));
    char buf[64];
    assert_string_equal(pn_shape_str(2, shape, buf, sizeof buf), "[2, 3]");
    assert_string_equal(pn_shape_str(0, shape, buf, sizeof buf), "[]");
    pn_statedict_free(&sd);
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n;
}

static void test_atomic_write(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    pn_error err = {0};
    assert_int_equal(pn_write_file_atomic(path, "hello", 5, &err), PN_OK);
    uint8_t *data;
    size_t n;
    assert_int_equal(pn_read_file(path, 100, &data, &n, &err), PN_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    /* An aborted write leaves the old file and no temporary. */
    pn_afile af;
    assert_int_equal(pn_afile_open(&af, path, &err), PN_OK);
    fputs("partial", af.f);
    pn_afile_abort(&af);
    assert_int_equal(pn_read_file(path, 100, &data, &n, &err), PN_OK);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(count_entries(dir), 1);
    /* Size limit and missing files are errors that name the file. */
    assert_int_equal(pn_read_file(path, 3, &data, &n, &err), PN_E_NOMEM);
    assert_non_null(strstr(err.msg, "out.txt"));
    snprintf(path, sizeof path, "%s/missing", dir);
    assert_int_equal(pn_read_file(path, 100, &data, &n, &err), PN_E_NOTFOUND);
    /* Writing into a folder that does not exist fails and creates nothing. */
    snprintf(path, sizeof path, "%s/no/such/dir/x", dir);
    assert_int_equal(pn_write_file_atomic(path, "x", 1, &err), PN_E_IO);
    assert_int_equal(count_entries(dir), 1);
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    assert_int_equal(pn_mkdirs(path, &err), PN_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    tu_rmtree(dir);
}

/* A write that fails (here over a file-size limit: EFBIG, as ENOSPC on a
 * full disk) is reported with its own errno, not as a bare "Input/output
 * error" from the stream's error flag, and leaves no file. Buffered
 * fprintf output that fails is the case: its errno used to be lost. In a
 * child, so that the limit stays there. */
static void test_afile_errno(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[4096];
    snprintf(path, sizeof path, "%s/big.json", dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {65536, 65536};
        if (setrlimit(RLIMIT_FSIZE, &rl)) _exit(10);
        pn_error err = {0};
        pn_afile af;
        if (pn_afile_open(&af, path, &err)) _exit(11);
        for (int i = 0; i < 20000; i++) fprintf(af.f, "{\"row\": %d},\n", i); /* ~280 kB */
        if (pn_afile_commit(&af, &err) != PN_E_IO) _exit(12);
        char want[256];
        snprintf(want, sizeof want, "big.json: write failed: %s", strerror(EFBIG));
        if (!strstr(err.msg, want)) {
            fprintf(stderr, "message: %s\n", err.msg);
            _exit(13);
        }
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(count_entries(dir), 0); /* neither the file nor its temporary */
    tu_rmtree(dir);
}

/* Temporary files of a process that is gone are stale and swept; those of a
 * live process (this one) and other names are kept. */
static void test_tmp_sweep(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char p[4096], live[64];
    long pid = 0;
    snprintf(live, sizeof live, "a.bin.tmp.%ld.3", (long)getpid());
    const char *names[] = {"a.bin.tmp.999999999.0", live, "a.bin", "x.tmp.12", "y.tmp.1.2.z"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        FILE *f = fopen(p, "w");
        assert_non_null(f);
        fputs("12345", f);
        fclose(f);
    }
    assert_true(pn__tmp_is_stale("m.safetensors.tmp.999999999.7", &pid));
    assert_int_equal(pid, 999999999);
    assert_false(pn__tmp_is_stale(live, NULL));
    assert_false(pn__tmp_is_stale("m.tmp.x.1", NULL));
    uint64_t bytes = 0;
    assert_int_equal(pn__tmp_sweep(dir, &bytes), 1);
    assert_int_equal(bytes, 5);
    assert_int_equal(count_entries(dir), 4);
    tu_rmtree(dir);
}

static void test_sha256(void **state)
{
    (void)state;
    uint8_t h[32];
    char hex[65];
    pn_sha256_buf("abc", 3, h);
    pn_hex(h, 32, hex);
    /* FIPS 180-2 test vector */
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pn_sha256_buf("", 0, h);
    pn_hex(h, 32, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* pn_statedict_sha256 against Python's hashlib over the documented canonical
 * bytes (tensors sorted by name; name, dtype, ndim, shape, data): the value
 * below was computed by hashlib for these three tensors. Insertion order and
 * metadata do not matter; one flipped bit does. */
static void test_statedict_sha256(void **state)
{
    (void)state;
    pn_error err = {0};
    pn_statedict a, b;
    pn_statedict_init(&a);
    pn_statedict_init(&b);
    float w[6] = {0, 0.5f, 1, 1.5f, 2, 2.5f}, bias[2] = {-1, 2.25f};
    int64_t seven = 7, sw[2] = {2, 3}, sb[1] = {2};
    assert_int_equal(pn_statedict_add(&a, "fc.weight", PN_F32, 2, sw, w, NULL, &err), PN_OK);
    assert_int_equal(pn_statedict_add(&a, "a.num", PN_I64, 0, NULL, &seven, NULL, &err), PN_OK);
    assert_int_equal(pn_statedict_add(&a, "fc.bias", PN_F32, 1, sb, bias, NULL, &err), PN_OK);
    assert_int_equal(pn_statedict_add(&b, "fc.bias", PN_F32, 1, sb, bias, NULL, &err), PN_OK);
    assert_int_equal(pn_statedict_add(&b, "fc.weight", PN_F32, 2, sw, w, NULL, &err), PN_OK);
    assert_int_equal(pn_statedict_add(&b, "a.num", PN_I64, 0, NULL, &seven, NULL, &err), PN_OK);
    assert_int_equal(pn_statedict_set_meta(&b, "k", "v", &err), PN_OK);
    uint8_t h[32], h2[32];
    char hex[65];
    assert_int_equal(pn_statedict_sha256(&a, h, &err), PN_OK);
    pn_hex(h, 32, hex);
    assert_string_equal(hex, "77579a223ed5407bf4ef43806ab54f5a00063df6bbf64dd4bd57994b1370246d");
    assert_int_equal(pn_statedict_sha256(&b, h2, &err), PN_OK);
    assert_memory_equal(h, h2, 32);
    ((float *)pn_statedict_find(&b, "fc.weight")->data)[4] = 2.0000002f; /* one bit */
    assert_int_equal(pn_statedict_sha256(&b, h2, &err), PN_OK);
    assert_memory_not_equal(h, h2, 32);
    pn_statedict_free(&a);
    pn_statedict_free(&b);
}

/* A FIFO (or folder) named like a data file is refused at once, never
 * waited on: opening a FIFO for reading blocks until a writer comes. */
static void test_read_not_regular(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char fifo[4096];
    snprintf(fifo, sizeof fifo, "%s/x.jpeg", dir);
    assert_int_equal(mkfifo(fifo, 0644), 0);
    alarm(20); /* a hang fails the test instead of stalling the suite */
    pn_error err = {0};
    uint8_t *data = NULL, h[32];
    size_t n = 0;
    assert_int_equal(pn_read_file(fifo, 1 << 20, &data, &n, &err), PN_E_IO);
    assert_non_null(strstr(err.msg, "x.jpeg: not a regular file"));
    assert_int_equal(pn_sha256_file(fifo, h, &err), PN_E_IO);
    assert_non_null(strstr(err.msg, "x.jpeg: not a regular file"));
    assert_int_equal(pn_sha256_file(dir, h, &err), PN_E_IO);
    assert_non_null(strstr(err.msg, "not a regular file"));
    int fd = -1;
    uint64_t size = 1;
    assert_int_equal(pn_open_regular(fifo, &fd, &size, &err), PN_E_IO);
    assert_int_equal(fd, -1);
    snprintf(fifo, sizeof fifo, "%s/missing", dir);
    assert_int_equal(pn_open_regular(fifo, &fd, &size, &err), PN_E_NOTFOUND);
    assert_non_null(strstr(err.msg, "missing: cannot open: No such file"));
    /* a regular file: the descriptor reads normally (blocking) */
    snprintf(fifo, sizeof fifo, "%s/f.bin", dir);
    assert_int_equal(pn_write_file_atomic(fifo, "hello", 5, &err), PN_OK);
    assert_int_equal(pn_open_regular(fifo, &fd, &size, &err), PN_OK);
    assert_true(fd >= 0);
    assert_int_equal(size, 5);
    char b[8];
    assert_int_equal(read(fd, b, sizeof b), 5);
    close(fd);
    alarm(0);
    tu_rmtree(dir);
}

/* core/files.c's private folder helpers (were net/fsutil.c) */
static void test_parent_dir(void **state)
{
    (void)state;
    char d[16];
    const char *cases[][2] = {{"a/b/c", "a/b"}, {"a/b/", "a"},  {"a//", "."}, {"x", "."},
                              {"/x", "/"},       {"/x/", "/"},  {"/", "/"},  {"./d", "."}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(pn__parent_dir(cases[i][0], d, sizeof d), 0);
        if (strcmp(d, cases[i][1])) fail_msg("parent of '%s': got '%s', want '%s'", cases[i][0], d, cases[i][1]);
    }
    assert_int_equal(pn__parent_dir("0123456789abcdef/x", d, sizeof d), -1);
}

static void test_rmtree_is_dir(void **state)
{
    (void)state;
    char root[] = "/tmp/pneumo-core-XXXXXX", p[256], link[256];
    assert_non_null(mkdtemp(root));
    snprintf(p, sizeof p, "%s/a/b/c", root);
    assert_int_equal(pn_mkdirs(p, NULL), PN_OK);
    assert_true(pn__is_dir(p));
    snprintf(p, sizeof p, "%s/a/b/f.txt", root);
    assert_int_equal(pn_write_file_atomic(p, "x", 1, NULL), PN_OK);
    assert_false(pn__is_dir(p));
    /* a link to a folder outside: removed, the target kept */
    char outside[] = "/tmp/pneumo-core-out-XXXXXX", keep[256];
    assert_non_null(mkdtemp(outside));
    snprintf(keep, sizeof keep, "%s/keep.txt", outside);
    assert_int_equal(pn_write_file_atomic(keep, "k", 1, NULL), PN_OK);
    snprintf(link, sizeof link, "%s/a/out", root);
    assert_int_equal(symlink(outside, link), 0);
    assert_int_equal(pn__rmtree(root), 0);
    assert_false(pn_path_exists(root));
    assert_true(pn_path_exists(keep));
    assert_int_equal(pn__rmtree(root), 0); /* missing: fine */
    assert_int_equal(pn__rmtree(outside), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_prefix),
        cmocka_unit_test(test_statedict),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_statedict_sha256),
        cmocka_unit_test(test_afile_errno),
        cmocka_unit_test(test_tmp_sweep),
        cmocka_unit_test(test_read_not_regular),
        cmocka_unit_test(test_parent_dir),
        cmocka_unit_test(test_rmtree_is_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
