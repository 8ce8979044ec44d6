/* Helpers shared by the cmocka tests: see testutil.h. */
#include "testutil.h"

#include <oneapi/dnnl/dnnl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_root(void)
{
    const char *r = getenv("PNEUMO_ROOT");
    return r && *r ? r : ".";
}

const char *tu_data_dir(void)
{
    static char buf[4096];
    const char *d = getenv("PNEUMO_DATA");
    if (d && *d)
        snprintf(buf, sizeof buf, "%s", d);
    else
        snprintf(buf, sizeof buf, "%s/../shared/data", tu_root());
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        fail_msg("test data folder %s is missing: this test needs ../shared/data "
                 "(or PNEUMO_DATA)", buf);
    return buf;
}

const char *tu_fixture(const char *name)
{
    static __thread char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/%s", tu_root(), name);
    return buf;
}

const char *tu_tmpdir(void)
{
    static __thread char buf[256];
    const char *base = getenv("TMPDIR");
    snprintf(buf, sizeof buf, "%s/pneumo-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(buf)) fail_msg("cannot create a temporary folder");
    return buf;
}

void tu_rmtree(const char *path)
{
    char cmd[4352];
    if (!path || strncmp(path, "/tmp/", 5) != 0) return; /* only our own temp folders */
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

double tu_max_rel_err(const char *what, const float *got, const float *want, size_t n,
                      double floor, double rtol)
{
    double worst = 0;
    size_t worst_i = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double w = want[i], g = got[i];
        double den = fabs(w) > floor ? fabs(w) : floor;
        double e = fabs(g - w) / den;
        if (isnan(g) != isnan(w)) e = INFINITY;
        if (e > rtol) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (rel err %.3g)\n", what, i, g, w,
                        e);
            bad++;
        }
        if (e > worst || isnan(e)) {
            worst = isnan(e) ? INFINITY : e;
            worst_i = i;
        }
    }
    if (bad)
        fprintf(stderr, "  %s: %zu of %zu values off; worst at %zu (%.3g)\n", what, bad, n,
                worst_i, worst);
    return worst;
}

void tu_fill_uniform(float *x, size_t n, uint64_t seed, float lo, float hi)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        x[i] = lo + (hi - lo) * (float)((s >> 40) * (1.0 / 16777216.0));
    }
}

double tu_fp32_rtol(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core) == dnnl_cpu_isa_avx512_core ? 1e-5 : 4e-5;
}
