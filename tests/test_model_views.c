/* The model keeps conv weights, their gradients and Adam state in oneDNN's
 * blocked layout and hands out torchvision (OIHW) views: pn_model_param /
 * pn_model_grad / pn_model_save must show the current values in OIHW, and
 * writes through pn_model_param must reach the computation. References:
 * the loaded state dict itself (an lr=0 step changes nothing, so the views
 * after the blocked round trip must be bit-identical to it), a second model
 * loaded with the written value, and the conv gradient computed with the
 * plain-C reference from the model's own stage taps. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/model.h"
#include "pneumo/ops.h"
#include "testutil.h"

#define K 2
#define N 2
#define HW 64

static pn_model *make(pn_freeze fr, pn_statedict *sd)
{
    pn_model_config cfg = {.num_classes = K, .max_batch = N, .height = HW, .width = HW,
                           .freeze = fr, .threads = 1};
    pn_model *m = NULL;
    pn_error err = {0};
    if (pn_model_create(&m, &cfg, &err)) fail_msg("%s", err.msg);
    if (!sd->n) { /* first call: build a random state dict with the model's names */
        if (pn_model_save(m, sd, &err)) fail_msg("%s", err.msg);
        uint64_t s = 7;
        for (size_t i = 0; i < sd->n; i++) {
            if (sd->t[i].dtype != PN_F32) continue;
            float *d = sd->t[i].data;
            int var = strstr(sd->t[i].name, "running_var") != NULL;
            for (size_t j = 0; j < sd->t[i].numel; j++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                float u = (float)(s >> 40) / 16777216.0f - 0.5f;
                d[j] = var ? 1.0f + u * 0.5f : u * 0.2f;
            }
        }
    }
    if (pn_model_load(m, sd, 0, &err)) fail_msg("%s", err.msg);
    return m;
}

static void input(float *x, int *labels)
{
    for (size_t i = 0; i < (size_t)N * 3 * HW * HW; i++)
        x[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    for (int i = 0; i < N; i++) labels[i] = i & 1;
}

/* lr = 0: the step goes through the blocked master copy and back; every
 * view must equal the loaded values bit for bit, and save must too. */
static void test_roundtrip(void **state)
{
    (void)state;
    pn_statedict sd, out;
    pn_statedict_init(&sd);
    pn_statedict_init(&out);
    pn_model *m = make(PN_FREEZE_NONE, &sd);
    static float x[N * 3 * HW * HW];
    int labels[N];
    input(x, labels);
    float loss;
    pn_error err = {0};
    if (pn_model_train_step(m, x, labels, N, NULL, 0.0, &loss, NULL, &err)) fail_msg("%s", err.msg);
    if (pn_model_save(m, &out, &err)) fail_msg("%s", err.msg);
    int nconv = 0;
    for (size_t i = 0; i < sd.n; i++) {
        const pn_tensor *a = &sd.t[i];
        if (a->dtype != PN_F32 || strstr(a->name, "running_")) continue;
        const pn_tensor *b = pn_statedict_findc(&out, a->name);
        assert_non_null(b);
        if (memcmp(a->data, b->data, a->numel * sizeof(float)))
            fail_msg("%s: saved tensor differs from the loaded one after an lr=0 step", a->name);
        size_t n = 0;
        const float *p = pn_model_param(m, a->name, &n);
        assert_non_null(p);
        assert_int_equal(n, a->numel);
        if (memcmp(a->data, p, n * sizeof(float)))
            fail_msg("%s: pn_model_param view differs from the loaded tensor", a->name);
        nconv += a->ndim == 4;
    }
    assert_int_equal(nconv, 20);
    pn_statedict_free(&out);
    pn_statedict_free(&sd);
    pn_model_free(m);
}

/* Writing a conv weight through pn_model_param changes the logits exactly
 * as loading a state dict with that value does; after a real step the view
 * and save agree and differ from the loaded weights. */
static void test_write_through(void **state)
{
    (void)state;
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_model *a = make(PN_FREEZE_LAYER4, &sd);
    static float x[N * 3 * HW * HW];
    int labels[N];
    input(x, labels);
    float la[N * K], lb[N * K];
    pn_error err = {0};
    if (pn_model_forward(a, x, N, 0, la, &err)) fail_msg("%s", err.msg); /* builds the ops */
    const char *names[] = {"layer1.0.conv1.weight", "layer4.1.conv2.weight", "conv1.weight"};
    for (int k = 0; k < 3; k++) {
        size_t n = 0;
        float *w = pn_model_param(a, names[k], &n);
        assert_non_null(w);
        pn_tensor *t = pn_statedict_find(&sd, names[k]);
        assert_non_null(t);
        /* an asymmetric change: scale output channel 5 and input channel 1 differently */
        int64_t I = t->shape[1], KK = t->shape[2] * t->shape[3];
        for (size_t j = 0; j < n; j++) {
            int64_t o = (int64_t)j / (I * KK), i = ((int64_t)j / KK) % I;
            float f = o == 5 ? 3.0f : i == 1 ? -2.0f : 1.0f;
            w[j] *= f;
            ((float *)t->data)[j] *= f;
        }
    }
    if (pn_model_forward(a, x, N, 0, la, &err)) fail_msg("%s", err.msg);
    pn_model *b = make(PN_FREEZE_LAYER4, &sd);
    if (pn_model_forward(b, x, N, 0, lb, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < N * K; i++)
        if (la[i] != lb[i]) fail_msg("logit %d: %g after writing the views, %g loaded", i, la[i], lb[i]);
    /* a real step: view == save, and the trained tensor moved */
    float loss;
    if (pn_model_train_step(a, x, labels, N, NULL, 1e-2, &loss, NULL, &err)) fail_msg("%s", err.msg);
    pn_statedict out;
    pn_statedict_init(&out);
    if (pn_model_save(a, &out, &err)) fail_msg("%s", err.msg);
    const pn_tensor *s4 = pn_statedict_findc(&out, "layer4.1.conv2.weight");
    const float *v4 = pn_model_param(a, "layer4.1.conv2.weight", NULL);
    assert_memory_equal(s4->data, v4, s4->numel * sizeof(float));
    /* Adam's first step is -lr * g / (|g| + eps) per element, in OIHW order */
    const float *old = pn_statedict_findc(&sd, "layer4.1.conv2.weight")->data;
    const float *g = pn_model_grad(a, "layer4.1.conv2.weight", NULL);
    size_t nz = 0;
    for (size_t j = 0; j < s4->numel; j++) {
        double want = old[j] - 1e-2 * (double)g[j] / (fabs((double)g[j]) + 1e-8);
        if (fabs(v4[j] - want) > 1e-6)
            fail_msg("layer4.1.conv2.weight[%zu]: %.9g after the step, want %.9g (grad %g)", j,
                     v4[j], want, g[j]);
        nz += g[j] != 0;
    }
    assert_true(nz > s4->numel / 4);
    pn_statedict_free(&out);
    pn_statedict_free(&sd);
    pn_model_free(a);
    pn_model_free(b);
}

/* The OIHW gradient view against central differences of the loss through
 * OIHW-indexed writes (pn_model_param): a layout mix-up would pair an element
 * with another element's gradient. Zero after load, stable across calls. */
static void test_grad_view(void **state)
{
    (void)state;
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_model *m = make(PN_FREEZE_LAYER4, &sd);
    const char *nm = "layer4.0.conv1.weight";
    size_t n = 0;
    const float *g = pn_model_grad(m, nm, &n);
    assert_non_null(g);
    for (size_t j = 0; j < n; j++) assert_true(g[j] == 0.0f);
    static float x[N * 3 * HW * HW];
    int labels[N];
    input(x, labels);
    float loss;
    pn_error err = {0};
    if (pn_model_backward_from(m, PN_STAGE_INPUT, x, labels, N, NULL, &loss, NULL, &err))
        fail_msg("%s", err.msg);
    g = pn_model_grad(m, nm, &n);
    float *gc = malloc(n * sizeof *gc);
    memcpy(gc, g, n * sizeof *gc);
    assert_memory_equal(pn_model_grad(m, nm, NULL), gc, n * sizeof *gc);
    /* directional derivative along the gradient view itself, by central
     * differences (all weights written through the OIHW view): equals
     * |g|^2 / max|g|; a misplaced gradient would give about 0 */
    float gmax = 0;
    double g2 = 0;
    for (size_t j = 0; j < n; j++) {
        if (fabsf(gc[j]) > gmax) gmax = fabsf(gc[j]);
        g2 += (double)gc[j] * gc[j];
    }
    assert_true(gmax > 0);
    const double h = 1e-4;
    float *w = pn_model_param(m, nm, NULL), *w0 = malloc(n * sizeof *w0);
    memcpy(w0, w, n * sizeof *w0);
    double l[2];
    for (int sgn = 0; sgn < 2; sgn++) {
        w = pn_model_param(m, nm, NULL);
        for (size_t j = 0; j < n; j++) w[j] = w0[j] + (float)((sgn ? -h : h) * gc[j] / gmax);
        if (pn_model_backward_from(m, PN_STAGE_INPUT, x, labels, N, NULL, &loss, NULL, &err))
            fail_msg("%s", err.msg);
        l[sgn] = loss;
    }
    double fd = (l[0] - l[1]) / (2 * h), want = g2 / gmax;
    if (fabs(fd - want) > 0.03 * want)
        fail_msg("%s: directional derivative %g by differences, %g from the gradient view", nm,
                 fd, want);
    free(w0);
    free(gc);
    pn_statedict_free(&sd);
    pn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_write_through),
        cmocka_unit_test(test_grad_view),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
