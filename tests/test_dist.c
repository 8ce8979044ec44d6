/* The communication layer (src/dist) in one process, and the synchronised
 * BatchNorm pair against the plain-C reference: with one rank the job's
 * batch is this batch, so pn__bn2d_forward_sync / backward_sync (stats
 * recombined from sum n*mean and sum n*E[x^2], normalisation on given
 * stats, dx corrected by the terms through the stats) must give what
 * training-mode batch norm gives. The multi-rank behaviour is tested under
 * mpirun by tests/test_mpi*.sh. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dist/dist.h"
#include "ops/ops.h"
#include "testutil.h"

static pn__dnn *D;

static int setup(void **s)
{
    (void)s;
    pn_error err = {0};
    if (pn__dnn_create(&D, &err)) fail_msg("%s", err.msg);
    pn__set_threads(0);
    return 0;
}
static int teardown(void **s)
{
    (void)s;
    pn__dnn_free(D);
    return 0;
}

/* shares: contiguous, in rank order, covering [0, n), sizes q or q+1 with
 * the first n % size ranks taking q+1 */
static void test_share(void **s)
{
    (void)s;
    size_t ns[] = {0, 1, 2, 5, 48, 49, 100, 224316};
    int sizes[] = {1, 2, 3, 7, 128};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof sizes / sizeof sizes[0]; b++) {
            size_t n = ns[a], next = 0;
            int R = sizes[b];
            for (int r = 0; r < R; r++) {
                size_t lo, hi;
                pn__dist_share(n, r, R, &lo, &hi);
                assert_int_equal(lo, next);
                assert_true(hi >= lo);
                size_t want = n / (size_t)R + ((size_t)r < n % (size_t)R ? 1 : 0);
                assert_int_equal(hi - lo, want);
                next = hi;
            }
            assert_int_equal(next, n);
        }
    /* the worked case of docs/mpi.md: 8 images over 3 ranks = 3 + 3 + 2 */
    size_t lo, hi;
    pn__dist_share(8, 2, 3, &lo, &hi);
    assert_int_equal(lo, 6);
    assert_int_equal(hi, 8);
}

/* without mpirun every collective is the identity on one rank */
static void test_one_process(void **s)
{
    (void)s;
    assert_int_equal(pn__dist_rank(), 0);
    assert_int_equal(pn__dist_size(), 1);
    assert_int_equal(pn__dist_local_size(), 1);
    assert_true(pn__dist_host()[0] != 0);
    pn_error err = {0};
    float f[3] = {1.5f, -2, 3};
    double d[2] = {0.25, 7};
    int m[2] = {4, -1};
    assert_int_equal(pn__dist_allreduce_f32(f, 3, &err), PN_OK);
    assert_int_equal(pn__dist_allreduce_f64(d, 2, &err), PN_OK);
    assert_int_equal(pn__dist_allreduce_max_int(m, 2, &err), PN_OK);
    assert_true(f[0] == 1.5f && f[1] == -2 && f[2] == 3 && d[0] == 0.25 && d[1] == 7);
    assert_true(m[0] == 4 && m[1] == -1);
    float rows[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(pn__dist_allgather_rows(rows, 3, 2 * sizeof(float), &err), PN_OK);
    assert_true(rows[5] == 6);
    void *all = NULL;
    size_t nall = 0;
    assert_int_equal(pn__dist_gatherv_bytes("abc", 3, 0, &all, &nall, &err), PN_OK);
    assert_int_equal(nall, 3);
    assert_memory_equal(all, "abc", 3);
    free(all);
    assert_int_equal(pn__dist_agree(PN_OK, &err), PN_OK);
    assert_int_equal(pn__dist_agree(PN_E_FORMAT, &err), PN_E_FORMAT);
}

static float *rnd(size_t n, uint64_t seed, float lo, float hi)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    tu_fill_uniform(x, n, seed, lo, hi);
    return x;
}
static double maxabs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}
static int blk(int c) { return c % pn__dnn_block(D) ? 1 : pn__dnn_block(D); }
#define CLOSE(what, got, want, n, rtol) \
    tu_assert_close(what, got, want, n, 1e-1 * maxabs(want, n) + 1e-30, rtol)

static void test_bn_sync_one_rank(void **s)
{
    (void)s;
    int shapes[][4] = {{2, 16, 3, 3}, {3, 5, 4, 3}, {2, 64, 5, 5}, {4, 32, 2, 2}};
    pn_error err = {0};
    for (size_t t = 0; t < 4; t++)
        for (int l = 0; l < 2; l++)
            for (int relu = 0; relu < 2; relu++) {
                int n = shapes[t][0], c = shapes[t][1], h = shapes[t][2], w = shapes[t][3];
                int hw = h * w, bk = l ? blk(c) : 1;
                pn__layout lay = (pn__layout)l;
                size_t cnt = (size_t)n * c * hw;
                float *x = rnd(cnt, 240 + t, -2, 3), *dy = rnd(cnt, 250 + t, -1, 1);
                float *g = rnd(c, 260 + t, 0.5f, 1.5f), *b = rnd(c, 270 + t, -0.3f, 0.3f);
                float *xl = malloc(cnt * 4), *dyl = malloc(cnt * 4), *y = malloc(cnt * 4),
                      *yr = malloc(cnt * 4), *dx = malloc(cnt * 4), *dxr = malloc(cnt * 4),
                      *dym = malloc(cnt * 4), *tmp = malloc(cnt * 4);
                float mean[64], var[64], meanr[64], varr[64], dg[64], db[64], dgr[64], dbr[64];
                assert_int_equal(pn__dnn_to_blocked(D, x, xl, n, c, hw, bk, &err), PN_OK);
                assert_int_equal(pn__dnn_to_blocked(D, dy, dyl, n, c, hw, bk, &err), PN_OK);
                pn__bn2d *op = NULL;
                if (pn__bn2d_create(&op, D, n, c, h, w, lay, 1, relu, &err)) fail_msg("%s", err.msg);
                size_t count = 0;
                assert_int_equal(pn__bn2d_forward_sync(op, xl, g, b, mean, var, y, &count, &err),
                                 PN_OK);
                assert_int_equal(count, (size_t)n * hw);
                assert_int_equal(pn__dnn_to_nchw(D, y, tmp, n, c, hw, bk, &err), PN_OK);
                pn__bn2d_forward_ref(n, c, hw, 1, x, g, b, meanr, varr, yr);
                for (size_t i = 0; i < cnt; i++) dym[i] = !relu || yr[i] > 0 ? dy[i] : 0.f;
                if (relu) pn__relu_forward_ref(cnt, yr, yr);
                CLOSE("sync bn y", tmp, yr, cnt, 1e-5);
                CLOSE("sync bn mean", mean, meanr, (size_t)c, 1e-5);
                CLOSE("sync bn var (biased)", var, varr, (size_t)c, 1e-5);
                assert_int_equal(pn__bn2d_backward_sync(op, xl, dyl, g, mean, var, count, dx, dg,
                                                        db, &err),
                                 PN_OK);
                assert_int_equal(pn__dnn_to_nchw(D, dx, tmp, n, c, hw, bk, &err), PN_OK);
                pn__bn2d_backward_ref(n, c, hw, x, dym, g, meanr, varr, dxr, dgr, dbr);
                CLOSE("sync bn dx", tmp, dxr, cnt, 1e-4);
                CLOSE("sync bn dgamma", dg, dgr, (size_t)c, 1e-5);
                CLOSE("sync bn dbeta", db, dbr, (size_t)c, 1e-5);
                /* the correction matters: dx without it (fixed stats) is far off */
                double off = 0;
                for (size_t i = 0; i < cnt; i++) {
                    int ch = (int)((i / (size_t)hw) % (size_t)c);
                    double fixed = dym[i] * g[ch] / sqrt(varr[ch] + 1e-5);
                    off = fmax(off, fabs(fixed - dxr[i]));
                }
                assert_true(off > 1e-2 * maxabs(dxr, cnt));
                pn__bn2d_free(op);
                free(x), free(dy), free(g), free(b), free(xl), free(dyl), free(y), free(yr);
                free(dx), free(dxr), free(dym), free(tmp);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_one_process),
        cmocka_unit_test(test_bn_sync_one_rank),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
