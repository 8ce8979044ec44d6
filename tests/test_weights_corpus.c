/* Replays the fuzz corpus (every file in fuzz/corpus/<target>/: seeds and every input
 * that once failed) through the same entry points as the libFuzzer targets,
 * so `make test` / `make asan` catch regressions without libFuzzer. */
#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/harness.h"
#include "pneumo.h"

static int replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dpath[1024];
    snprintf(dpath, sizeof dpath, "%s/fuzz/corpus/%s", tu_root(), target);
    DIR *d = opendir(dpath);
    if (!d) fail_msg("no corpus folder %s", dpath);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dpath, e->d_name);
        uint8_t *b;
        size_t len;
        pn_error err = {0};
        if (pn_read_file(p, 64u << 20, &b, &len, &err)) fail_msg("%s", err.msg);
        fn(b, len);
        /* every prefix of small inputs too: truncation anywhere must be handled */
        if (len <= 4096)
            for (size_t cut = 0; cut < len; cut += 1 + len / 64) fn(b, cut);
        free(b);
        n++;
    }
    closedir(d);
    return n;
}

static void test_pickle(void **s) { (void)s; assert_true(replay("pickle", fz_pickle) >= 3); }
static void test_pth(void **s) { (void)s; assert_true(replay("pth", fz_pth) >= 3); }
static void test_safetensors(void **s) { (void)s; assert_true(replay("safetensors", fz_safetensors) >= 2); }

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pickle),
        cmocka_unit_test(test_pth),
        cmocka_unit_test(test_safetensors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
