/* The model keeps conv weights, their gradients and Adam state in oneDNN's
 * blocked layout and copies them in and out in torchvision's layout (OIHW):
 * pn_model_get / pn_model_get_grad / pn_model_get_adam / pn_model_save must
 * show the current values in OIHW, and pn_model_set must reach the
 * computation. References: the loaded state dict itself (an lr=0 step
 * changes nothing, so the copies after the blocked round trip must be
 * bit-identical to it), a second model loaded with the written value,
 * Adam's first-step formula per OIHW element (weights and moments), and
 * central differences of the loss along the gradient copy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/model.h"
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
        size_t n = pn_model_numel(m, a->name);
        assert_int_equal(n, a->numel);
        float *p = malloc(n * sizeof *p);
        if (pn_model_get(m, a->name, p, n, &err)) fail_msg("%s", err.msg);
        if (memcmp(a->data, p, n * sizeof(float)))
            fail_msg("%s: pn_model_get differs from the loaded tensor", a->name);
        /* set + get round trip: a permuted copy comes back bit for bit */
        for (size_t j = 0; j < n; j++) p[j] = ((const float *)a->data)[n - 1 - j];
        if (pn_model_set(m, a->name, p, n, &err)) fail_msg("%s", err.msg);
        memset(p, 0, n * sizeof *p);
        if (pn_model_get(m, a->name, p, n, &err)) fail_msg("%s", err.msg);
        for (size_t j = 0; j < n; j++)
            if (p[j] != ((const float *)a->data)[n - 1 - j])
                fail_msg("%s[%zu]: set/get round trip changed the value", a->name, j);
        free(p);
        nconv += a->ndim == 4;
    }
    assert_int_equal(nconv, 20);
    pn_statedict_free(&out);
    pn_statedict_free(&sd);
    pn_model_free(m);
}

/* Writing a conv weight with pn_model_set changes the logits exactly as
 * loading a state dict with that value does; after a real step get and save
 * agree and differ from the loaded weights. */
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
        size_t n = pn_model_numel(a, names[k]);
        float *w = malloc(n * sizeof *w);
        if (pn_model_get(a, names[k], w, n, &err)) fail_msg("%s", err.msg);
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
        if (pn_model_set(a, names[k], w, n, &err)) fail_msg("%s", err.msg);
        free(w);
    }
    if (pn_model_forward(a, x, N, 0, la, &err)) fail_msg("%s", err.msg);
    pn_model *b = make(PN_FREEZE_LAYER4, &sd);
    if (pn_model_forward(b, x, N, 0, lb, &err)) fail_msg("%s", err.msg);
    for (int i = 0; i < N * K; i++)
        if (la[i] != lb[i]) fail_msg("logit %d: %g after writing the views, %g loaded", i, la[i], lb[i]);
    /* a real step: get == save, and the trained tensor moved */
    float loss;
    if (pn_model_train_step(a, x, labels, N, NULL, 1e-2, &loss, NULL, &err)) fail_msg("%s", err.msg);
    pn_statedict out;
    pn_statedict_init(&out);
    if (pn_model_save(a, &out, &err)) fail_msg("%s", err.msg);
    /* after the step, get shows the trained values for every kind of tensor */
    const char *live[] = {"fc.weight", "layer4.0.bn1.bias", "layer4.1.conv2.weight"};
    for (int k = 0; k < 3; k++) {
        const pn_tensor *st = pn_statedict_findc(&out, live[k]);
        float *v = malloc(st->numel * sizeof *v);
        if (pn_model_get(a, live[k], v, st->numel, &err)) fail_msg("%s", err.msg);
        assert_memory_equal(st->data, v, st->numel * sizeof(float));
        free(v);
    }
    const pn_tensor *sf = pn_statedict_findc(&out, "fc.weight");
    assert_true(memcmp(sf->data, pn_statedict_findc(&sd, "fc.weight")->data,
                       sf->numel * sizeof(float)));
    const pn_tensor *s4 = pn_statedict_findc(&out, "layer4.1.conv2.weight");
    size_t n4 = s4->numel;
    float *v4 = malloc(n4 * sizeof *v4), *g = malloc(n4 * sizeof *g);
    float *m1 = malloc(n4 * sizeof *m1), *m2 = malloc(n4 * sizeof *m2);
    if (pn_model_get(a, "layer4.1.conv2.weight", v4, n4, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(s4->data, v4, n4 * sizeof(float));
    /* Adam's first step is -lr * g / (|g| + eps) per element, in OIHW order;
     * its moments are (1-b1) g and (1-b2) g^2 in the same order */
    const float *old = pn_statedict_findc(&sd, "layer4.1.conv2.weight")->data;
    if (pn_model_get_grad(a, "layer4.1.conv2.weight", g, n4, &err)) fail_msg("%s", err.msg);
    if (pn_model_get_adam(a, "layer4.1.conv2.weight", m1, m2, n4, &err)) fail_msg("%s", err.msg);
    assert_int_equal(pn_model_adam_steps(a), 1);
    size_t nz = 0;
    for (size_t j = 0; j < n4; j++) {
        double want = old[j] - 1e-2 * (double)g[j] / (fabs((double)g[j]) + 1e-8);
        if (fabs(v4[j] - want) > 1e-6)
            fail_msg("layer4.1.conv2.weight[%zu]: %.9g after the step, want %.9g (grad %g)", j,
                     v4[j], want, g[j]);
        if (fabs(m1[j] - 0.1 * g[j]) > 1e-6 * fabs(g[j]) ||
            fabs(m2[j] - 0.001 * (double)g[j] * g[j]) > 1e-5 * (double)g[j] * g[j] + 1e-30)
            fail_msg("layer4.1.conv2.weight[%zu]: Adam moments %g %g for grad %g", j, m1[j],
                     m2[j], g[j]);
        nz += g[j] != 0;
    }
    assert_true(nz > n4 / 4);
    /* set_adam / get_adam round trip; frozen parameters have no Adam state */
    for (size_t j = 0; j < n4; j++) m1[j] = (float)j, m2[j] = (float)(n4 - j);
    if (pn_model_set_adam(a, "layer4.1.conv2.weight", m1, m2, n4, &err)) fail_msg("%s", err.msg);
    memset(m1, 0, n4 * sizeof *m1);
    memset(m2, 0, n4 * sizeof *m2);
    if (pn_model_get_adam(a, "layer4.1.conv2.weight", m1, m2, n4, &err)) fail_msg("%s", err.msg);
    for (size_t j = 0; j < n4; j++)
        if (m1[j] != (float)j || m2[j] != (float)(n4 - j)) fail_msg("adam round trip [%zu]", j);
    size_t n3 = pn_model_numel(a, "layer3.1.conv2.weight");
    float *f3 = malloc(2 * n3 * sizeof *f3);
    assert_int_equal(pn_model_get_adam(a, "layer3.1.conv2.weight", f3, f3 + n3, n3, &err), PN_E_ARG);
    assert_int_equal(pn_model_get_grad(a, "layer3.1.conv2.weight", f3, n3, &err), PN_E_ARG);
    free(f3);
    /* the trainable list: layer4 + fc in state_dict order */
    int nt = pn_model_num_trainable(a);
    assert_int_equal(nt, 5 * 3 + 2); /* 5 convs with their BN weight and bias, fc w and b */
    assert_string_equal(pn_model_trainable_name(a, 0), "layer4.0.conv1.weight");
    assert_string_equal(pn_model_trainable_name(a, nt - 2), "fc.weight");
    assert_string_equal(pn_model_trainable_name(a, nt - 1), "fc.bias");
    assert_null(pn_model_trainable_name(a, nt));
    assert_int_equal(pn_model_set_adam_steps(a, 7, &err), PN_OK);
    assert_int_equal(pn_model_adam_steps(a), 7);
    assert_int_equal(pn_model_set_adam_steps(a, -1, &err), PN_E_ARG);
    free(v4);
    free(g);
    free(m1);
    free(m2);
    pn_statedict_free(&out);
    pn_statedict_free(&sd);
    pn_model_free(a);
    pn_model_free(b);
}

/* The OIHW gradient copy against central differences of the loss through
 * OIHW-indexed writes (pn_model_set): a layout mix-up would pair an element
 * with another element's gradient. Zero after load, stable across calls. */
static void test_grad_view(void **state)
{
    (void)state;
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_model *m = make(PN_FREEZE_LAYER4, &sd);
    const char *nm = "layer4.0.conv1.weight";
    size_t n = pn_model_numel(m, nm);
    pn_error err = {0};
    float *gc = malloc(n * sizeof *gc), *g2c = malloc(n * sizeof *g2c);
    if (pn_model_get_grad(m, nm, gc, n, &err)) fail_msg("%s", err.msg);
    for (size_t j = 0; j < n; j++) assert_true(gc[j] == 0.0f);
    static float x[N * 3 * HW * HW];
    int labels[N];
    input(x, labels);
    float loss;
    if (pn_model_backward_from(m, PN_STAGE_INPUT, x, labels, N, NULL, &loss, NULL, &err))
        fail_msg("%s", err.msg);
    if (pn_model_get_grad(m, nm, gc, n, &err)) fail_msg("%s", err.msg);
    if (pn_model_get_grad(m, nm, g2c, n, &err)) fail_msg("%s", err.msg);
    assert_memory_equal(g2c, gc, n * sizeof *gc);
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
    float *w = malloc(n * sizeof *w), *w0 = malloc(n * sizeof *w0);
    if (pn_model_get(m, nm, w0, n, &err)) fail_msg("%s", err.msg);
    double l[2];
    for (int sgn = 0; sgn < 2; sgn++) {
        for (size_t j = 0; j < n; j++) w[j] = w0[j] + (float)((sgn ? -h : h) * gc[j] / gmax);
        if (pn_model_set(m, nm, w, n, &err)) fail_msg("%s", err.msg);
        if (pn_model_backward_from(m, PN_STAGE_INPUT, x, labels, N, NULL, &loss, NULL, &err))
            fail_msg("%s", err.msg);
        l[sgn] = loss;
    }
    double fd = (l[0] - l[1]) / (2 * h), want = g2 / gmax;
    if (fabs(fd - want) > 0.03 * want)
        fail_msg("%s: directional derivative %g by differences, %g from the gradient view", nm,
                 fd, want);
    free(w);
    free(w0);
    free(gc);
    free(g2c);
    pn_statedict_free(&sd);
    pn_model_free(m);
}

/* Every stage boundary of the one pn_stage enum: running the network in
 * two halves through it (NCHW at the boundary) gives the logits of one
 * forward bit for bit, and the boundary's size matches its shape. */
static void test_stage_split(void **state)
{
    (void)state;
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_model *m = make(PN_FREEZE_LAYER4, &sd);
    static float x[N * 3 * HW * HW];
    int labels[N];
    input(x, labels);
    float want[N * K], got[N * K];
    pn_error err = {0};
    if (pn_model_forward(m, x, N, 0, want, &err)) fail_msg("%s", err.msg);
    for (int s = PN_STAGE_STEM; s <= PN_STAGE_POOL; s++) {
        int c, h, w;
        pn_model_stage_shape(m, (pn_stage)s, &c, &h, &w);
        size_t per = pn_model_stage_numel(m, (pn_stage)s);
        assert_int_equal(per, (size_t)c * h * w);
        float *mid = malloc(N * per * sizeof *mid);
        if (pn_model_run(m, PN_STAGE_INPUT, x, N, (pn_stage)s, 0, mid, &err) ||
            pn_model_run(m, (pn_stage)s, mid, N, PN_STAGE_LOGITS, 0, got, &err))
            fail_msg("%s: %s", pn_stage_name((pn_stage)s), err.msg);
        if (memcmp(want, got, sizeof got))
            fail_msg("logits through stage %s differ from one forward", pn_stage_name((pn_stage)s));
        free(mid);
    }
    /* 64x64: stem 64x16x16, layer4 512x2x2 */
    assert_int_equal(pn_model_stage_numel(m, PN_STAGE_STEM), 64 * 16 * 16);
    assert_int_equal(pn_model_stage_numel(m, PN_STAGE_LAYER4), 512 * 2 * 2);
    assert_int_equal(pn_model_stage_numel(m, PN_STAGE_COUNT), 0);
    assert_string_equal(pn_stage_name(PN_STAGE_LAYER1), "layer1");
    assert_int_equal(pn_stage_from_name("stem"), PN_STAGE_STEM);
    assert_int_equal(pn_stage_from_name("nope"), -1);
    assert_int_equal(pn_freeze_stage(PN_FREEZE_LAYER4), PN_STAGE_LAYER3);
    pn_statedict_free(&sd);
    pn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_write_through),
        cmocka_unit_test(test_grad_view),
        cmocka_unit_test(test_stage_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
