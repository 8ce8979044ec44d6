/* Ops: the oneDNN versions against the plain-C references on random shapes
 * (NCHW and blocked layouts), finite-difference checks of every reference
 * backward, hand-computed values, and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* block used for a C-channel tensor in PN__LAYOUT_BLOCKED */
static int blk(int c) { return c % pn__dnn_block(D) ? 1 : pn__dnn_block(D); }

/* to/from the op layout (a copy for NCHW) */
static float *to_layout(const float *x, int n, int c, int hw, pn__layout l)
{
    float *y = malloc((size_t)n * c * hw * sizeof *y);
    pn_error err = {0};
    if (pn__dnn_to_blocked(D, x, y, n, c, hw, l == PN__LAYOUT_BLOCKED ? blk(c) : 1, &err))
        fail_msg("%s", err.msg);
    return y;
}
static void from_layout(float *x, int n, int c, int hw, pn__layout l)
{
    size_t cnt = (size_t)n * c * hw;
    float *t = malloc(cnt * sizeof *t);
    pn_error err = {0};
    if (pn__dnn_to_nchw(D, x, t, n, c, hw, l == PN__LAYOUT_BLOCKED ? blk(c) : 1, &err))
        fail_msg("%s", err.msg);
    memcpy(x, t, cnt * sizeof *t);
    free(t);
}

/* float accumulation (oneDNN) against double (reference): errors are
 * relative to 10% of the tensor's largest entry */
#define CLOSE(what, got, want, n, rtol) tu_assert_close(what, got, want, n, 1e-1 * maxabs(want, n) + 1e-30, rtol)

/* ---- layout conversion --------------------------------------------------- */

static void test_layout_roundtrip(void **s)
{
    (void)s;
    float *x = rnd(2 * 32 * 5, 1, -1, 1), *b = malloc(2 * 32 * 5 * 4), *y = malloc(2 * 32 * 5 * 4);
    pn_error err = {0};
    assert_int_equal(pn__dnn_to_blocked(D, x, b, 2, 32, 5, 16, &err), PN_OK);
    /* element (n=1, c=17, p=3) lands at ((1*2 + 1)*5 + 3)*16 + 1 */
    assert_true(b[((1 * 2 + 1) * 5 + 3) * 16 + 1] == x[(1 * 32 + 17) * 5 + 3]);
    assert_int_equal(pn__dnn_to_nchw(D, b, y, 2, 32, 5, 16, &err), PN_OK);
    assert_memory_equal(x, y, 2 * 32 * 5 * 4);
    /* the same with 8-channel blocks: (1*4 + 2)*5 + 3)*8 + 1 */
    assert_int_equal(pn__dnn_to_blocked(D, x, b, 2, 32, 5, 8, &err), PN_OK);
    assert_true(b[((1 * 4 + 2) * 5 + 3) * 8 + 1] == x[(1 * 32 + 17) * 5 + 3]);
    assert_int_equal(pn__dnn_to_nchw(D, b, y, 2, 32, 5, 8, &err), PN_OK);
    assert_memory_equal(x, y, 2 * 32 * 5 * 4);
    free(x), free(b), free(y);
}

/* ---- conv2d ------------------------------------------------------------- */

static double conv_loss(const pn__conv2d_dims *d, const float *x, const float *w, const float *r)
{
    int oh, ow;
    pn__conv2d_out_hw(d, &oh, &ow);
    size_t ny = (size_t)d->n * d->oc * oh * ow;
    float *y = malloc(ny * sizeof *y);
    pn__conv2d_forward_ref(d, x, w, y);
    double l = 0;
    for (size_t i = 0; i < ny; i++) l += (double)y[i] * r[i];
    free(y);
    return l;
}

static void test_conv2d(void **s)
{
    (void)s;
    pn__conv2d_dims shapes[] = {
        {2, 3, 13, 11, 16, 7, 2, 3},  /* stem-like, non-square */
        {2, 16, 9, 9, 32, 3, 2, 1},   /* strided 3x3 */
        {1, 32, 6, 6, 32, 3, 1, 1},   /* 3x3 */
        {2, 16, 7, 7, 32, 1, 2, 0},   /* downsample 1x1 */
        {3, 5, 8, 6, 7, 3, 1, 0},     /* odd channels (NCHW fallback) */
    };
    pn_error err = {0};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++)
        for (int l = 0; l < 2; l++) {
            pn__conv2d_dims d = shapes[t];
            pn__layout lay = (pn__layout)l;
            int oh, ow;
            pn__conv2d_out_hw(&d, &oh, &ow);
            size_t nx = (size_t)d.n * d.ic * d.h * d.w, nw = (size_t)d.oc * d.ic * d.k * d.k;
            size_t ny = (size_t)d.n * d.oc * oh * ow;
            float *x = rnd(nx, 10 + t, -1, 1), *w = rnd(nw, 20 + t, -0.5f, 0.5f);
            float *dy = rnd(ny, 30 + t, -1, 1);
            float *y = malloc(ny * 4), *yr = malloc(ny * 4), *dx = malloc(nx * 4),
                  *dxr = malloc(nx * 4), *dw = malloc(nw * 4), *dwr = malloc(nw * 4);
            pn__conv2d *op = NULL;
            if (pn__conv2d_create(&op, D, &d, lay, 1, &err)) fail_msg("%s", err.msg);
            assert_int_equal(pn__conv2d_forward(op, x, y, &err), PN_E_ARG); /* no weights yet */
            assert_non_null(strstr(err.msg, "weights"));
            assert_int_equal(pn__conv2d_set_weights(op, w, &err), PN_OK);
            float *xl = to_layout(x, d.n, d.ic, d.h * d.w, lay);
            float *dyl = to_layout(dy, d.n, d.oc, oh * ow, lay);
            assert_int_equal(pn__conv2d_forward(op, xl, y, &err), PN_OK);
            from_layout(y, d.n, d.oc, oh * ow, lay);
            pn__conv2d_forward_ref(&d, x, w, yr);
            CLOSE("conv y", y, yr, ny, 1e-5);
            assert_int_equal(pn__conv2d_backward(op, xl, dyl, dx, dw, &err), PN_OK);
            from_layout(dx, d.n, d.ic, d.h * d.w, lay);
            pn__conv2d_backward_ref(&d, x, w, dy, dxr, dwr);
            CLOSE("conv dx", dx, dxr, nx, 1e-5);
            CLOSE("conv dw", dw, dwr, nw, 1e-5);
            pn__conv2d_free(op);
            /* finite differences of the reference (conv is linear: exact up to rounding) */
            if (l == 0) {
                for (int k = 0; k < 12; k++) {
                    size_t i = (size_t)(k * 7919) % nx, j = (size_t)(k * 104729) % nw;
                    float xi = x[i], wj = w[j];
                    x[i] = xi + 0.5f;
                    double lp = conv_loss(&d, x, w, dy);
                    x[i] = xi - 0.5f;
                    double lm = conv_loss(&d, x, w, dy);
                    x[i] = xi;
                    float fd = (float)((lp - lm) / 1.0);
                    tu_assert_close("conv dx (finite diff)", &dxr[i], &fd, 1, 1e-2, 1e-4);
                    w[j] = wj + 0.5f;
                    lp = conv_loss(&d, x, w, dy);
                    w[j] = wj - 0.5f;
                    lm = conv_loss(&d, x, w, dy);
                    w[j] = wj;
                    fd = (float)(lp - lm);
                    tu_assert_close("conv dw (finite diff)", &dwr[j], &fd, 1, 1e-2, 1e-4);
                }
            }
            free(x), free(w), free(dy), free(y), free(yr), free(dx), free(dxr), free(dw), free(dwr);
            free(xl), free(dyl);
        }
}

/* ---- batch norm ------------------------------------------------------------ */

static double bn_loss(int n, int c, int hw, const float *x, const float *g, const float *b,
                      const float *r)
{
    size_t cnt = (size_t)n * c * hw;
    float *y = malloc(cnt * 4), mean[64], var[64];
    pn__bn2d_forward_ref(n, c, hw, 1, x, g, b, mean, var, y);
    double l = 0;
    for (size_t i = 0; i < cnt; i++) l += (double)y[i] * r[i];
    free(y);
    return l;
}

static void test_bn2d(void **s)
{
    (void)s;
    int shapes[][4] = {{2, 16, 3, 3}, {4, 32, 2, 2}, {3, 5, 4, 3}, {2, 64, 5, 5}};
    pn_error err = {0};
    for (size_t t = 0; t < 4; t++)
        for (int l = 0; l < 2; l++) {
            int n = shapes[t][0], c = shapes[t][1], h = shapes[t][2], w = shapes[t][3], hw = h * w;
            pn__layout lay = (pn__layout)l;
            size_t cnt = (size_t)n * c * hw;
            float *x = rnd(cnt, 40 + t, -2, 3), *dy = rnd(cnt, 50 + t, -1, 1);
            float *g = rnd(c, 60 + t, 0.5f, 1.5f), *b = rnd(c, 70 + t, -0.3f, 0.3f);
            float *y = malloc(cnt * 4), *yr = malloc(cnt * 4), *dx = malloc(cnt * 4), *dxr = malloc(cnt * 4);
            float mean[64], var[64], meanr[64], varr[64], dg[64], db[64], dgr[64], dbr[64];
            pn__bn2d *op = NULL;
            if (pn__bn2d_create(&op, D, n, c, h, w, lay, 1, 0, &err)) fail_msg("%s", err.msg);
            float *xl = to_layout(x, n, c, hw, lay), *dyl = to_layout(dy, n, c, hw, lay);
            /* training */
            assert_int_equal(pn__bn2d_forward(op, 1, xl, g, b, mean, var, y, &err), PN_OK);
            from_layout(y, n, c, hw, lay);
            pn__bn2d_forward_ref(n, c, hw, 1, x, g, b, meanr, varr, yr);
            CLOSE("bn train y", y, yr, cnt, 1e-5);
            CLOSE("bn batch mean", mean, meanr, (size_t)c, 1e-5);
            CLOSE("bn batch var (biased)", var, varr, (size_t)c, 1e-5);
            assert_int_equal(pn__bn2d_backward(op, xl, dyl, g, mean, var, dx, dg, db, &err), PN_OK);
            from_layout(dx, n, c, hw, lay);
            pn__bn2d_backward_ref(n, c, hw, x, dy, g, meanr, varr, dxr, dgr, dbr);
            CLOSE("bn dx", dx, dxr, cnt, 1e-4);
            CLOSE("bn dgamma", dg, dgr, (size_t)c, 1e-5);
            CLOSE("bn dbeta", db, dbr, (size_t)c, 1e-5);
            /* eval: running stats in */
            float *rm = rnd(c, 80 + t, -0.5f, 0.5f), *rv = rnd(c, 90 + t, 0.5f, 2.0f);
            assert_int_equal(pn__bn2d_forward(op, 0, xl, g, b, rm, rv, y, &err), PN_OK);
            from_layout(y, n, c, hw, lay);
            pn__bn2d_forward_ref(n, c, hw, 0, x, g, b, rm, rv, yr);
            CLOSE("bn eval y", y, yr, cnt, 1e-5);
            pn__bn2d_free(op);
            if (l == 0 && t < 2) { /* finite differences of the training-mode reference */
                const double hstep = 1e-2;
                for (int k = 0; k < 10; k++) {
                    size_t i = (size_t)(k * 7919) % cnt;
                    float xi = x[i];
                    x[i] = xi + (float)hstep;
                    double lp = bn_loss(n, c, hw, x, g, b, dy);
                    x[i] = xi - (float)hstep;
                    double lm = bn_loss(n, c, hw, x, g, b, dy);
                    x[i] = xi;
                    float fd = (float)((lp - lm) / (2 * hstep));
                    tu_assert_close("bn dx (finite diff)", &dxr[i], &fd, 1, 0.1 * maxabs(dxr, cnt), 2e-3);
                    /* a wrong formula must fail: eval-mode dx = dy*gamma/sigma */
                    int ch = (int)((i / hw) % c);
                    float wrong = (float)(dy[i] * g[ch] / sqrt(varr[ch] + 1e-5));
                    double e = fabs(wrong - fd) / (0.1 * maxabs(dxr, cnt));
                    assert_true(e > 2e-3);
                }
                for (int ch = 0; ch < 3; ch++) {
                    float gi = g[ch];
                    g[ch] = gi + 1e-2f;
                    double lp = bn_loss(n, c, hw, x, g, b, dy);
                    g[ch] = gi - 1e-2f;
                    double lm = bn_loss(n, c, hw, x, g, b, dy);
                    g[ch] = gi;
                    float fd = (float)((lp - lm) / (2 * 1e-2));
                    tu_assert_close("bn dgamma (finite diff)", &dgr[ch], &fd, 1, 0.1 * maxabs(dgr, c), 1e-3);
                }
            }
            free(x), free(dy), free(g), free(b), free(y), free(yr), free(dx), free(dxr), free(rm), free(rv);
            free(xl), free(dyl);
        }
    /* running stats, by hand: momentum 0.1, unbiased variance */
    float rm[1] = {0.5f}, rv[1] = {2.0f}, m1[1] = {1.0f}, v1[1] = {3.0f};
    pn__bn2d_update_running(rm, rv, m1, v1, 1, 4, 0.1f);
    assert_float_equal(rm[0], 0.55f, 1e-7);
    assert_float_equal(rv[0], 2.2f, 1e-6); /* 0.9*2 + 0.1*3*4/3 */
}

/* BN + ReLU fused: equals relu(bn(x)); backward masks dy by the output */
static void test_bn2d_relu(void **s)
{
    (void)s;
    int shapes[][4] = {{2, 16, 3, 3}, {3, 5, 4, 3}, {2, 64, 5, 5}};
    pn_error err = {0};
    for (size_t t = 0; t < 3; t++)
        for (int l = 0; l < 2; l++) {
            int n = shapes[t][0], c = shapes[t][1], h = shapes[t][2], w = shapes[t][3], hw = h * w;
            pn__layout lay = (pn__layout)l;
            size_t cnt = (size_t)n * c * hw;
            float *x = rnd(cnt, 140 + t, -2, 3), *dy = rnd(cnt, 150 + t, -1, 1);
            float *g = rnd(c, 160 + t, 0.5f, 1.5f), *b = rnd(c, 170 + t, -0.3f, 0.3f);
            float *y = malloc(cnt * 4), *yr = malloc(cnt * 4), *dx = malloc(cnt * 4),
                  *dxr = malloc(cnt * 4), *dym = malloc(cnt * 4);
            float mean[64], var[64], meanr[64], varr[64], dg[64], db[64], dgr[64], dbr[64];
            pn__bn2d *op = NULL;
            if (pn__bn2d_create(&op, D, n, c, h, w, lay, 1, 1, &err)) fail_msg("%s", err.msg);
            float *xl = to_layout(x, n, c, hw, lay), *dyl = to_layout(dy, n, c, hw, lay);
            assert_int_equal(pn__bn2d_forward(op, 1, xl, g, b, mean, var, y, &err), PN_OK);
            from_layout(y, n, c, hw, lay);
            pn__bn2d_forward_ref(n, c, hw, 1, x, g, b, meanr, varr, yr);
            for (size_t i = 0; i < cnt; i++) dym[i] = yr[i] > 0 ? dy[i] : 0.f;
            pn__relu_forward_ref(cnt, yr, yr);
            CLOSE("bn+relu y", y, yr, cnt, 1e-5);
            assert_int_equal(pn__bn2d_backward(op, xl, dyl, g, mean, var, dx, dg, db, &err), PN_OK);
            from_layout(dx, n, c, hw, lay);
            pn__bn2d_backward_ref(n, c, hw, x, dym, g, meanr, varr, dxr, dgr, dbr);
            CLOSE("bn+relu dx", dx, dxr, cnt, 1e-4);
            CLOSE("bn+relu dgamma", dg, dgr, (size_t)c, 1e-5);
            CLOSE("bn+relu dbeta", db, dbr, (size_t)c, 1e-5);
            pn__bn2d_free(op);
            free(x), free(dy), free(g), free(b), free(y), free(yr), free(dx), free(dxr), free(dym);
            free(xl), free(dyl);
        }
}

/* ---- relu / pooling / add -------------------------------------------------- */

static void test_relu(void **s)
{
    (void)s;
    pn_error err = {0};
    size_t n = 1000;
    float *x = rnd(n, 5, -1, 1), *dy = rnd(n, 6, -1, 1);
    float y[1000], yr[1000], dx[1000], dxr[1000];
    pn__relu *op = NULL;
    assert_int_equal(pn__relu_create(&op, D, n, 1, &err), PN_OK);
    assert_int_equal(pn__relu_forward(op, x, y, &err), PN_OK);
    pn__relu_forward_ref(n, x, yr);
    assert_memory_equal(y, yr, sizeof y);
    assert_int_equal(pn__relu_backward(op, x, dy, dx, &err), PN_OK);
    pn__relu_backward_ref(n, x, dy, dxr);
    for (size_t i = 0; i < n; i++) {
        assert_true(dx[i] == dxr[i]);
        /* finite difference: d relu(x)/dx = 1 for x>0, 0 below (away from 0) */
        if (fabsf(x[i]) > 1e-2f) {
            float a = x[i] + 1e-3f, b = x[i] - 1e-3f, ya, yb;
            pn__relu_forward_ref(1, &a, &ya);
            pn__relu_forward_ref(1, &b, &yb);
            assert_float_equal(dxr[i], dy[i] * (ya - yb) / (a - b), 1e-5);
        }
    }
    pn__relu_free(op);
    free(x), free(dy);
    /* add + relu (oneDNN) against add then relu (reference) */
    float *xa = rnd(n, 7, -1, 1), *xb = rnd(n, 8, -1, 1), *dy2 = rnd(n, 9, -1, 1);
    float sum[1000];
    pn__addrelu *ar = NULL;
    assert_int_equal(pn__addrelu_create(&ar, D, n, 1, &err), PN_OK);
    assert_int_equal(pn__addrelu_forward(ar, xa, xb, y, &err), PN_OK);
    pn__add_forward(n, xa, xb, sum);
    pn__relu_forward_ref(n, sum, yr);
    assert_memory_equal(y, yr, sizeof y);
    assert_int_equal(pn__addrelu_backward(ar, y, dy2, dx, &err), PN_OK);
    pn__relu_backward_ref(n, sum, dy2, dxr);
    for (size_t i = 0; i < n; i++) assert_true(dx[i] == dxr[i]);
    pn__addrelu_free(ar);
    assert_int_equal(pn__addrelu_create(&ar, D, n, 0, &err), PN_OK);
    assert_int_equal(pn__addrelu_backward(ar, y, dy2, dx, &err), PN_E_ARG);
    pn__addrelu_free(ar);
    free(xa), free(xb), free(dy2);
    float a[3] = {1, 2, 3}, b[3] = {0.5f, -2, 4}, c[3];
    pn__add_forward(3, a, b, c);
    assert_true(c[0] == 1.5f && c[1] == 0 && c[2] == 7);
}

static void test_maxpool(void **s)
{
    (void)s;
    pn_error err = {0};
    int shapes[][4] = {{2, 16, 9, 9}, {1, 32, 8, 8}, {2, 5, 7, 6}, {2, 64, 16, 16}};
    for (size_t t = 0; t < 4; t++)
        for (int l = 0; l < 2; l++) {
            int n = shapes[t][0], c = shapes[t][1], h = shapes[t][2], w = shapes[t][3];
            pn__layout lay = (pn__layout)l;
            pn__pool *op = NULL;
            if (pn__maxpool_create(&op, D, n, c, h, w, 3, 2, 1, lay, 1, &err)) fail_msg("%s", err.msg);
            int oh, ow;
            pn__pool_out_hw(op, &oh, &ow);
            assert_int_equal(oh, (h + 2 - 3) / 2 + 1);
            size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * oh * ow;
            float *x = rnd(nx, 100 + t, -1, 1), *dy = rnd(ny, 110 + t, -1, 1);
            float *y = malloc(ny * 4), *yr = malloc(ny * 4), *dx = malloc(nx * 4), *dxr = malloc(nx * 4);
            int *am = malloc(ny * sizeof *am);
            float *xl = to_layout(x, n, c, h * w, lay), *dyl = to_layout(dy, n, c, oh * ow, lay);
            assert_int_equal(pn__pool_forward(op, xl, y, &err), PN_OK);
            from_layout(y, n, c, oh * ow, lay);
            pn__maxpool_forward_ref(n, c, h, w, 3, 2, 1, x, yr, am);
            assert_memory_equal(y, yr, ny * 4);
            assert_int_equal(pn__pool_backward(op, dyl, dx, &err), PN_OK);
            from_layout(dx, n, c, h * w, lay);
            pn__maxpool_backward_ref(n, c, h, w, 3, 2, 1, am, dy, dxr);
            CLOSE("maxpool dx", dx, dxr, nx, 1e-6);
            if (l == 0) { /* finite differences: the winner moves y by h, others not at all */
                for (int k = 0; k < 20; k++) {
                    size_t i = (size_t)(k * 7919) % nx;
                    float xi = x[i];
                    double lp = 0, lm = 0;
                    x[i] = xi + 1e-3f;
                    pn__maxpool_forward_ref(n, c, h, w, 3, 2, 1, x, yr, am);
                    for (size_t j = 0; j < ny; j++) lp += (double)yr[j] * dy[j];
                    x[i] = xi - 1e-3f;
                    pn__maxpool_forward_ref(n, c, h, w, 3, 2, 1, x, yr, am);
                    for (size_t j = 0; j < ny; j++) lm += (double)yr[j] * dy[j];
                    x[i] = xi;
                    float fd = (float)((lp - lm) / ((double)(xi + 1e-3f) - (double)(xi - 1e-3f)));
                    tu_assert_close("maxpool dx (finite diff)", &dxr[i], &fd, 1, 1e-2, 1e-3);
                }
            }
            pn__pool_free(op);
            free(x), free(dy), free(y), free(yr), free(dx), free(dxr), free(am), free(xl), free(dyl);
        }
    /* ties: the first maximum wins (PyTorch), padding is -inf */
    float xt[4] = {-5, -5, -5, -5}, yt[1];
    int at[1];
    pn__maxpool_forward_ref(1, 1, 2, 2, 3, 2, 1, xt, yt, at);
    assert_true(yt[0] == -5 && at[0] == 0);
}

static void test_avgpool(void **s)
{
    (void)s;
    pn_error err = {0};
    for (int l = 0; l < 2; l++) {
        int n = 2, c = 32, h = 7;
        pn__layout lay = (pn__layout)l;
        pn__pool *op = NULL;
        if (pn__avgpool_global_create(&op, D, n, c, h, h, lay, 1, &err)) fail_msg("%s", err.msg);
        size_t nx = (size_t)n * c * h * h, ny = (size_t)n * c;
        float *x = rnd(nx, 120, -1, 1), *dy = rnd(ny, 121, -1, 1);
        float y[64], yr[64], *dx = malloc(nx * 4), *dxr = malloc(nx * 4);
        float *xl = to_layout(x, n, c, h * h, lay);
        assert_int_equal(pn__pool_forward(op, xl, y, &err), PN_OK);
        pn__avgpool_global_forward_ref(n, c, h * h, x, yr);
        CLOSE("avgpool y", y, yr, ny, 1e-5);
        assert_int_equal(pn__pool_backward(op, dy, dx, &err), PN_OK);
        from_layout(dx, n, c, h * h, lay);
        pn__avgpool_global_backward_ref(n, c, h * h, dy, dxr);
        CLOSE("avgpool dx", dx, dxr, nx, 1e-5);
        /* finite difference (linear): d y[p] / d x[p, j] = 1/HW */
        float x0 = x[5];
        x[5] = x0 + 0.5f;
        pn__avgpool_global_forward_ref(n, c, h * h, x, yr);
        float yp = yr[0];
        x[5] = x0 - 0.5f;
        pn__avgpool_global_forward_ref(n, c, h * h, x, yr);
        assert_float_equal((yp - yr[0]) * dy[0], dxr[5], 1e-6);
        pn__pool_free(op);
        free(x), free(dy), free(dx), free(dxr), free(xl);
    }
}

/* ---- head ops ---------------------------------------------------------- */

static void test_linear(void **s)
{
    (void)s;
    int n = 3, in = 40, out = 5;
    float *x = rnd((size_t)n * in, 130, -1, 1), *w = rnd((size_t)out * in, 131, -1, 1);
    float *b = rnd(out, 132, -1, 1), *r = rnd((size_t)n * out, 133, -1, 1);
    float y[15], dx[120], dw[200], db[5];
    pn__linear_forward(n, in, out, x, w, b, y);
    /* by hand: y[1][2] */
    double acc = b[2];
    for (int k = 0; k < in; k++) acc += (double)x[in + k] * w[2 * in + k];
    assert_float_equal(y[out + 2], (float)acc, 1e-6);
    pn__linear_backward(n, in, out, x, w, r, dx, dw, db);
    /* finite differences (linear: exact up to rounding) */
    float *ps[] = {x, w, b}, *gs[] = {dx, dw, db};
    size_t ns[] = {(size_t)n * in, (size_t)out * in, (size_t)out};
    for (int p = 0; p < 3; p++)
        for (int k = 0; k < 5; k++) {
            size_t i = (size_t)(k * 37) % ns[p];
            float v = ps[p][i];
            double l[2];
            for (int sg = 0; sg < 2; sg++) {
                ps[p][i] = v + (sg ? -0.5f : 0.5f);
                pn__linear_forward(n, in, out, x, w, b, y);
                l[sg] = 0;
                for (int j = 0; j < n * out; j++) l[sg] += (double)y[j] * r[j];
            }
            ps[p][i] = v;
            float fd = (float)(l[0] - l[1]);
            tu_assert_close("linear grad (finite diff)", &gs[p][i], &fd, 1, 1e-2, 1e-5);
        }
    free(x), free(w), free(b), free(r);
}

static void test_cross_entropy(void **s)
{
    (void)s;
    pn_error err = {0};
    float z[6] = {1, 2, 3, 0.5f, -1, 2}, loss, d[6];
    int y[2] = {2, 0};
    /* by hand: -log softmax */
    double l0 = log(exp(1) + exp(2) + exp(3)) - 3, l1 = log(exp(0.5) + exp(-1) + exp(2)) - 0.5;
    assert_int_equal(pn__cross_entropy(2, 3, z, y, NULL, &loss, d, &err), PN_OK);
    assert_float_equal(loss, (float)((l0 + l1) / 2), 1e-6);
    /* weighted mean divides by the sum of the target weights */
    float cw[3] = {2.0f, 1.0f, 0.5f};
    assert_int_equal(pn__cross_entropy(2, 3, z, y, cw, &loss, d, &err), PN_OK);
    assert_float_equal(loss, (float)((0.5 * l0 + 2.0 * l1) / 2.5), 1e-6);
    /* finite differences of the weighted loss */
    for (int i = 0; i < 6; i++) {
        float v = z[i], lp, lm;
        z[i] = v + 1e-2f;
        pn__cross_entropy(2, 3, z, y, cw, &lp, NULL, &err);
        z[i] = v - 1e-2f;
        pn__cross_entropy(2, 3, z, y, cw, &lm, NULL, &err);
        z[i] = v;
        float fd = (float)(((double)lp - lm) / 2e-2);
        tu_assert_close("cross entropy grad (finite diff)", &d[i], &fd, 1, 1e-2, 1e-3);
    }
    /* bad input */
    int bad[2] = {0, 3};
    assert_int_equal(pn__cross_entropy(2, 3, z, bad, NULL, &loss, d, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "label 3"));
    float zero[3] = {0, 1, 1};
    int y0[2] = {0, 0};
    assert_int_equal(pn__cross_entropy(2, 3, z, y0, zero, &loss, d, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "weight"));
}

static void test_adam(void **s)
{
    (void)s;
    /* step 1 by hand: m = 0.1 g, v = 0.001 g^2, p -= lr * m/0.1 / (|g| + eps) ~ lr */
    float p[2] = {1.0f, -2.0f}, g[2] = {0.5f, -4.0f}, m[2] = {0}, v[2] = {0};
    const pn_optim c = {0};
    pn__optim_step(&c, 0.1, 1, 2, p, g, m, v);
    assert_float_equal(m[0], 0.05f, 1e-8);
    assert_float_equal(v[1], 0.016f, 1e-9);
    assert_float_equal(p[0], 0.9f, 1e-6);
    assert_float_equal(p[1], -1.9f, 1e-6);
    /* step 2 with the same gradient: still lr per step */
    pn__optim_step(&c, 0.1, 2, 2, p, g, m, v);
    assert_float_equal(p[0], 0.8f, 1e-6);
}

/* ---- bad input ---------------------------------------------------------- */

static void test_bad_input(void **s)
{
    (void)s;
    pn_error err = {0};
    pn__conv2d *c = NULL;
    pn__conv2d_dims d = {1, 3, 2, 2, 8, 7, 1, 0};
    assert_int_equal(pn__conv2d_create(&c, D, &d, PN__LAYOUT_NCHW, 0, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "smaller than kernel"));
    d.k = 3, d.h = 8, d.w = 8, d.stride = 0;
    assert_int_equal(pn__conv2d_create(&c, D, &d, PN__LAYOUT_NCHW, 0, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "stride=0"));
    d.stride = 1;
    assert_int_equal(pn__conv2d_create(&c, D, &d, PN__LAYOUT_NCHW, 0, &err), PN_OK);
    float w[8 * 3 * 9] = {0}, x[3 * 64] = {0}, y[8 * 36];
    assert_int_equal(pn__conv2d_set_weights(c, w, &err), PN_OK);
    assert_int_equal(pn__conv2d_forward(c, x, y, &err), PN_OK);
    assert_int_equal(pn__conv2d_backward(c, x, y, x, w, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "forward-only"));
    pn__conv2d_free(c);
    pn__bn2d *b = NULL;
    assert_int_equal(pn__bn2d_create(&b, D, 0, 4, 2, 2, PN__LAYOUT_NCHW, 1, 0, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "n=0"));
    assert_int_equal(pn__bn2d_create(&b, D, 2, 4, 2, 2, PN__LAYOUT_NCHW, 0, 0, &err), PN_OK);
    float g[4] = {1, 1, 1, 1}, mv[4] = {0}, xx[32] = {0};
    assert_int_equal(pn__bn2d_forward(b, 1, xx, g, g, mv, mv, xx, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "eval-only"));
    pn__bn2d_free(b);
    pn__pool *p = NULL;
    assert_int_equal(pn__maxpool_create(&p, D, 1, 4, 1, 1, 3, 2, 2, PN__LAYOUT_NCHW, 0, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "max pool"));
    pn__relu *r = NULL;
    assert_int_equal(pn__relu_create(&r, D, 0, 0, &err), PN_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_roundtrip), cmocka_unit_test(test_conv2d),
        cmocka_unit_test(test_bn2d),             cmocka_unit_test(test_bn2d_relu),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_maxpool),          cmocka_unit_test(test_avgpool),
        cmocka_unit_test(test_linear),           cmocka_unit_test(test_cross_entropy),
        cmocka_unit_test(test_adam),             cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
