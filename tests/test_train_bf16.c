/* bf16 training (pn_model_config.bf16, pn__conv2d_create_bf16) against f32.
 *
 * Op level: the bf16 conv's forward, backward-data and backward-weights
 * against two plain-C double references on random data: (a) the exact f32
 * inputs, where the bf16 result must be within bf16's precision (its 8-bit
 * mantissa rounds each input by up to 2^-9 = 0.2%; the tolerance 1e-2 of
 * the tensor's largest entry is ~5 such roundings) and must also DIFFER by
 * more than f32 rounding (1e-4 of the largest entry: an f32 conv is ~1e-7
 * off), so it really ran bf16; (b) the same inputs rounded to bf16 (round
 * to nearest even, what oneDNN's conversion does), where only f32
 * accumulation differs (1e-4).
 *
 * Model level: the same torchvision init and batch trained in bf16 and
 * f32 (freeze layer4 and none, from the image: every conv in bf16, the
 * frozen ones forward only, as under autocast): the logits and loss, the
 * gradients of the first backward (per tensor and over all, relative L2
 * error, and their cosine), the losses of 3 Adam steps and the parameters
 * they reach, with limits set from PyTorch's autocast (see below).
 *
 * Every test skips (cmocka skip(), counted as skipped) on a CPU without
 * avx512_core_bf16; the fallback itself is tested in test_infer_nobf16.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/dnn.h"
#include "pneumo.h"
#include "testutil.h"

static int has_bf16(void)
{
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

#define NEED_BF16()                                                                    \
    do {                                                                               \
        if (!has_bf16()) {                                                             \
            fprintf(stderr, "skipping: this CPU has no avx512_core_bf16 (oneDNN ISA 0x%x)\n", \
                    (unsigned)dnnl_get_effective_cpu_isa());                           \
            skip();                                                                    \
        }                                                                              \
    } while (0)

/* float -> bf16 -> float, round to nearest even (finite inputs) */
static float bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    u += 0x7fffu + ((u >> 16) & 1u);
    u &= 0xffff0000u;
    memcpy(&f, &u, 4);
    return f;
}

static float *rounded(const float *x, size_t n)
{
    float *r = malloc(n * sizeof *r);
    for (size_t i = 0; i < n; i++) r[i] = bf16_round(x[i]);
    return r;
}

static double maxabs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* max |got - want| / max |want| */
static double rel_max(const float *got, const float *want, size_t n)
{
    double e = 0;
    for (size_t i = 0; i < n; i++) e = fabs((double)got[i] - want[i]) > e ? fabs((double)got[i] - want[i]) : e;
    return e / (maxabs(want, n) + 1e-30);
}

static void check(const char *what, const char *shape, const float *got, const float *exact,
                  const float *ref_b, size_t n)
{
    double e_exact = rel_max(got, exact, n), e_b = rel_max(got, ref_b, n);
    printf("  %-8s %-22s vs f32 %.2e, vs bf16-rounded inputs %.2e\n", what, shape, e_exact, e_b);
    if (!(e_exact <= 1e-2)) fail_msg("%s %s: bf16 off the f32 reference by %.3g > 1e-2", what, shape, e_exact);
    if (!(e_exact >= 1e-4))
        fail_msg("%s %s: within %.3g of f32: the op did not compute in bf16", what, shape, e_exact);
    if (!(e_b <= 1e-4)) fail_msg("%s %s: off the bf16-input reference by %.3g > 1e-4", what, shape, e_b);
}

/* to / from the blocked layout the model uses */
static float *blocked(pn__dnn *D, const float *x, int n, int c, int hw)
{
    float *y = malloc((size_t)n * c * hw * sizeof *y);
    int b = c % pn__dnn_block(D) ? 1 : pn__dnn_block(D);
    pn_error err = {0};
    if (pn__dnn_to_blocked(D, x, y, n, c, hw, b, &err)) fail_msg("%s", err.msg);
    return y;
}
static void unblock(pn__dnn *D, float *x, int n, int c, int hw)
{
    size_t cnt = (size_t)n * c * hw;
    float *t = malloc(cnt * sizeof *t);
    int b = c % pn__dnn_block(D) ? 1 : pn__dnn_block(D);
    pn_error err = {0};
    if (pn__dnn_to_nchw(D, x, t, n, c, hw, b, &err)) fail_msg("%s", err.msg);
    memcpy(x, t, cnt * sizeof *t);
    free(t);
}

static void test_conv_bf16(void **s)
{
    (void)s;
    NEED_BF16();
    pn__dnn *D;
    pn_error err = {0};
    if (pn__dnn_create(&D, &err)) fail_msg("%s", err.msg);
    pn__set_threads(0);
    /* ResNet-18's conv kinds: 3x3, strided 3x3, 1x1 downsample, the stem */
    const pn__conv2d_dims shapes[] = {
        {2, 64, 14, 14, 64, 3, 1, 1},
        {2, 64, 14, 14, 128, 3, 2, 1},
        {2, 64, 14, 14, 128, 1, 2, 0},
        {2, 3, 32, 32, 64, 7, 2, 3},
    };
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        pn__conv2d_dims d = shapes[t];
        char sh[64];
        snprintf(sh, sizeof sh, "%d->%d k%d s%d %dx%d", d.ic, d.oc, d.k, d.stride, d.h, d.w);
        int oh, ow;
        pn__conv2d_out_hw(&d, &oh, &ow);
        size_t nx = (size_t)d.n * d.ic * d.h * d.w, nw = (size_t)d.oc * d.ic * d.k * d.k;
        size_t ny = (size_t)d.n * d.oc * oh * ow;
        float *x = malloc(nx * 4), *w = malloc(nw * 4), *dy = malloc(ny * 4);
        tu_fill_uniform(x, nx, 100 + t, -1, 1);
        tu_fill_uniform(w, nw, 200 + t, -0.5f, 0.5f);
        tu_fill_uniform(dy, ny, 300 + t, -1, 1);
        float *xb = rounded(x, nx), *wb = rounded(w, nw), *dyb = rounded(dy, ny);
        float *y = malloc(ny * 4), *dx = malloc(nx * 4), *dw = malloc(nw * 4);
        float *ye = malloc(ny * 4), *dxe = malloc(nx * 4), *dwe = malloc(nw * 4);
        float *yb = malloc(ny * 4), *dxb = malloc(nx * 4), *dwb = malloc(nw * 4);
        pn__conv2d_forward_ref(&d, x, w, ye);
        pn__conv2d_backward_ref(&d, x, w, dy, dxe, dwe);
        pn__conv2d_forward_ref(&d, xb, wb, yb);
        pn__conv2d_backward_ref(&d, xb, wb, dyb, dxb, dwb);

        dnnl_memory_desc_t oihw = pn__dnn_md_oihw(d.oc, d.ic, d.k, d.k);
        pn__conv2d *op = NULL;
        const int stem = d.ic == 3; /* the model never needs the input's gradient */
        if (pn__conv2d_create_bf16(&op, D, &d, PN__LAYOUT_BLOCKED, 1, !stem, &oihw, 0, &err))
            fail_msg("%s: %s", sh, err.msg);
        if (!pn__conv2d_is_bf16(op)) fail_msg("%s: created in f32 on a bf16 CPU", sh);
        assert_int_equal(pn__conv2d_set_weights(op, w, &err), PN_OK);
        float *xl = blocked(D, x, d.n, d.ic, d.h * d.w);
        float *dyl = blocked(D, dy, d.n, d.oc, oh * ow);
        assert_int_equal(pn__conv2d_forward(op, xl, y, &err), PN_OK);
        if (stem) assert_int_equal(pn__conv2d_backward(op, xl, dyl, dx, dw, &err), PN_E_ARG);
        assert_int_equal(pn__conv2d_backward(op, xl, dyl, stem ? NULL : dx, dw, &err), PN_OK);
        unblock(D, y, d.n, d.oc, oh * ow);
        check("y", sh, y, ye, yb, ny);
        if (!stem) {
            unblock(D, dx, d.n, d.ic, d.h * d.w);
            check("dx", sh, dx, dxe, dxb, nx);
        }
        check("dw", sh, dw, dwe, dwb, nw);

        /* weights refreshed by set_weights; dw from an x that is not the last
         * forward's is converted again */
        for (size_t i = 0; i < nw; i++) w[i] = -w[i];
        assert_int_equal(pn__conv2d_set_weights(op, w, &err), PN_OK);
        assert_int_equal(pn__conv2d_forward(op, xl, y, &err), PN_OK);
        unblock(D, y, d.n, d.oc, oh * ow);
        for (size_t i = 0; i < ny; i++) yb[i] = -yb[i], ye[i] = -ye[i];
        check("y (-w)", sh, y, ye, yb, ny);
        float *x2 = malloc(nx * 4);
        for (size_t i = 0; i < nx; i++) x2[i] = 2 * xl[i]; /* bf16(2x) = 2 bf16(x) */
        assert_int_equal(pn__conv2d_backward(op, x2, dyl, NULL, dw, &err), PN_OK);
        for (size_t i = 0; i < nw; i++) dwb[i] *= 2, dwe[i] *= 2;
        check("dw (2x)", sh, dw, dwe, dwb, nw);

        pn__conv2d_free(op);
        free(x2);
        free(xl);
        free(dyl);
        float *bufs[] = {x, w, dy, xb, wb, dyb, y, dx, dw, ye, dxe, dwe, yb, dxb, dwb};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
    }
    pn__dnn_free(D);
}

/* ---- model level ---------------------------------------------------------- */

#define K 2
#define HW 64

static pn_model *make(pn_freeze fr, int n, int bf16)
{
    pn_model_config c = {.num_classes = K, .max_batch = n, .height = HW, .width = HW,
                         .freeze = fr, .bf16 = bf16};
    pn_model *m = NULL;
    pn_error err = {0};
    if (pn_model_create(&m, &c, &err)) fail_msg("create: %s", err.msg);
    assert_string_equal(err.msg, ""); /* no fallback notice on this CPU */
    assert_int_equal(pn_model_is_bf16(m), bf16);
    if (pn_model_init_torchvision(m, 7, &err)) fail_msg("init: %s", err.msg);
    return m;
}

/* relative L2 error ||a - b|| / ||b|| */
static double rel_l2(const float *a, const float *b, size_t n)
{
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]), r += (double)b[i] * b[i];
    return sqrt(d / (r + 1e-300));
}

static void compare_training(pn_freeze fr, int n)
{
    pn_model *mf = make(fr, n, 0), *mb = make(fr, n, 1);
    size_t nx = (size_t)n * 3 * HW * HW;
    float *x = malloc(nx * sizeof *x);
    tu_fill_uniform(x, nx, 42, -2, 2);
    int labels[8];
    for (int i = 0; i < n; i++) labels[i] = i % K;
    pn_error err = {0};
    float lf, lb, zf[16], zb[16];
    /* the training forward's logits and loss, and the gradients of one backward */
    assert_int_equal(pn_model_backward_from(mf, PN_STAGE_INPUT, x, labels, n, NULL, &lf, zf, &err), PN_OK);
    assert_int_equal(pn_model_backward_from(mb, PN_STAGE_INPUT, x, labels, n, NULL, &lb, zb, &err), PN_OK);
    double ez = rel_max(zb, zf, (size_t)n * K);
    printf("  freeze %s, batch %d: loss f32 %.6f bf16 %.6f; logits off by %.2e of the largest\n",
           pn_freeze_name(fr), n, lf, lb, ez);
    if (!(ez <= 5e-2)) fail_msg("logits: bf16 off f32 by %.3g of the largest > 5e-2", ez);
    if (!(fabs(lf - lb) <= 2e-2 * fabs(lf))) fail_msg("loss bf16 %.6f vs f32 %.6f", lb, lf);
    double worst = 0, gd = 0, gr = 0, gfb = 0, gbb = 0;
    const char *worst_name = "";
    for (int i = 0; i < pn_model_num_trainable(mf); i++) {
        const char *nm = pn_model_trainable_name(mf, i);
        size_t c = pn_model_numel(mf, nm);
        float *gf = malloc(c * 4), *gb = malloc(c * 4);
        assert_int_equal(pn_model_get_grad(mf, nm, gf, c, &err), PN_OK);
        assert_int_equal(pn_model_get_grad(mb, nm, gb, c, &err), PN_OK);
        double e = rel_l2(gb, gf, c);
        for (size_t j = 0; j < c; j++)
            gd += ((double)gb[j] - gf[j]) * ((double)gb[j] - gf[j]), gr += (double)gf[j] * gf[j],
                gfb += (double)gf[j] * gb[j], gbb += (double)gb[j] * gb[j];
        if (e > worst) worst = e, worst_name = nm;
        free(gf);
        free(gb);
    }
    double all = sqrt(gd / gr), cosine = gfb / sqrt(gr * gbb + 1e-300);
    printf("  gradients: worst tensor's relative L2 error %.2e (%s); all: %.2e, cosine %.4f\n",
           worst, worst_name, all, cosine);
    /* Gradients at a random init under batch-stat BN are mostly cancellation,
     * so bf16 moves them far more than the logits: PyTorch 1.13's own
     * torch.autocast('cpu', torch.bfloat16) on this configuration
     * (torch.manual_seed(7) resnet18(num_classes=2), uniform(-2,2) 64x64
     * input) is off its fp32 gradients by 0.22 (layer4, batch 8) and 0.39
     * (none, batch 4) over all parameters, and by 0.26 / 0.47 in the worst
     * tensor. The limits leave ~1.5x that; a wrong gradient is off by ~1 or
     * more (cosine near 0). */
    if (!(worst <= 0.7)) fail_msg("gradient %s: relative L2 error %.3g > 0.7", worst_name, worst);
    if (!(all <= 0.6)) fail_msg("gradients: relative L2 error %.3g > 0.6", all);
    if (!(cosine >= 0.85)) fail_msg("gradients: cosine %.4f < 0.85", cosine);
    if (!(all >= 1e-4)) fail_msg("bf16 gradients within %.3g of f32: not bf16", all);

    /* three Adam steps (lr 1e-4) from the same state */
    pn_model_free(mf);
    pn_model_free(mb);
    mf = make(fr, n, 0), mb = make(fr, n, 1);
    for (int s = 0; s < 3; s++) {
        assert_int_equal(pn_model_train_step(mf, x, labels, n, NULL, 1e-4, &lf, NULL, &err), PN_OK);
        assert_int_equal(pn_model_train_step(mb, x, labels, n, NULL, 1e-4, &lb, NULL, &err), PN_OK);
        printf("  step %d: loss f32 %.6f bf16 %.6f\n", s + 1, lf, lb);
        /* the loss falls fast on a batch this small: relative 5%, or 1e-3 near 0 */
        if (!(fabs(lf - lb) <= 5e-2 * fabs(lf) + 1e-3))
            fail_msg("step %d: loss bf16 %.6f vs f32 %.6f", s + 1, lb, lf);
    }
    /* the parameters reached, and their moves from the shared init, over all
     * trainable tensors: Adam moves each element by about lr in the sign
     * of its (noisy, see above) gradient, so the moves differ where the
     * gradient is mostly rounding, and the parameters by little */
    pn_model *m0 = make(fr, n, 0);
    double pd = 0, pr = 0, md = 0, mr = 0;
    for (int i = 0; i < pn_model_num_trainable(mf); i++) {
        const char *nm = pn_model_trainable_name(mf, i);
        size_t c = pn_model_numel(mf, nm);
        float *p0 = malloc(c * 4), *pf = malloc(c * 4), *pb = malloc(c * 4);
        assert_int_equal(pn_model_get(m0, nm, p0, c, &err), PN_OK);
        assert_int_equal(pn_model_get(mf, nm, pf, c, &err), PN_OK);
        assert_int_equal(pn_model_get(mb, nm, pb, c, &err), PN_OK);
        for (size_t j = 0; j < c; j++) {
            double df = (double)pf[j] - p0[j], db = (double)pb[j] - p0[j];
            pd += (db - df) * (db - df), pr += (double)pf[j] * pf[j];
            md += (db - df) * (db - df), mr += df * df;
        }
        free(p0);
        free(pf);
        free(pb);
    }
    double ep = sqrt(pd / pr), em = sqrt(md / mr);
    printf("  after 3 steps: parameters' relative L2 error %.2e, their moves' %.2e\n", ep, em);
    if (!(ep <= 1e-2)) fail_msg("parameters after 3 steps: relative L2 error %.3g > 1e-2", ep);
    /* measured 0.24 (layer4) and 0.48 (none); moves of the same size but
     * unrelated would be off by sqrt(2) */
    if (!(em <= 0.8)) fail_msg("moves in 3 steps: relative L2 error %.3g > 0.8", em);
    pn_model_free(m0);
    pn_model_free(mf);
    pn_model_free(mb);
    free(x);
}

static void test_train_layer4(void **s)
{
    (void)s;
    NEED_BF16();
    compare_training(PN_FREEZE_LAYER4, 8);
}

static void test_train_none(void **s)
{
    (void)s;
    NEED_BF16();
    compare_training(PN_FREEZE_NONE, 4);
}

/* fc only: no trainable conv, so no bf16 (and no notice) */
static void test_fc_is_fp32(void **s)
{
    (void)s;
    pn_model_config c = {.num_classes = K, .max_batch = 2, .height = HW, .width = HW,
                         .freeze = PN_FREEZE_FC, .bf16 = 1};
    pn_model *m = NULL;
    pn_error err = {0};
    assert_int_equal(pn_model_create(&m, &c, &err), PN_OK);
    assert_int_equal(pn_model_is_bf16(m), 0);
    pn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_bf16),
        cmocka_unit_test(test_train_layer4),
        cmocka_unit_test(test_train_none),
        cmocka_unit_test(test_fc_is_fp32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
