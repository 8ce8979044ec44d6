/* ResNet-18 engine against PyTorch fixtures (tests/pytorch/make_model_fixtures.py):
 * eval logits and stage taps, training-mode gradients of every trainable
 * tensor per freeze level, running stats, 3 Adam steps, Adam op; plus
 * load/save and bad input. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/model.h"
#include "ops/ops.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"
#include "testutil.h"

#define K 3
#define N 2
#define HW 64
#define SAMPLES 4096

/* ---- fixtures (safetensors, read with the library's reader) ------------- */

static void load_fixture(const char *name, pn_statedict *sd)
{
    pn_error err = {0};
    pn_statedict_init(sd);
    if (pn_safetensors_load(tu_fixture(name), sd, &err)) fail_msg("%s", err.msg);
}

static const pn_tensor *fx(const pn_statedict *sd, const char *name)
{
    const pn_tensor *t = pn_statedict_findc(sd, name);
    if (!t) fail_msg("fixture tensor %s missing", name);
    return t;
}

/* ---- the fixture generator, bit for bit (see make_model_fixtures.py) ------ */

static void gen(uint64_t seed, float *out, size_t n, double offset, double scale)
{
    float off = (float)offset, sc = (float)scale;
    for (size_t i = 0; i < n; i++) {
        uint64_t z = seed * 0x9E3779B97F4A7C15ull + (uint64_t)(i + 1) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        float u = (float)(z >> 40) * (1.0f / 16777216.0f);
        volatile float t = (u - 0.5f) * sc; /* no fused multiply-add */
        out[i] = off + t;
    }
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Fill every tensor of a model-shaped state dict like the fixture script. */
static void fill_weights(pn_statedict *sd)
{
    for (size_t i = 0; i < sd->n; i++) {
        pn_tensor *t = &sd->t[i];
        const char *nm = t->name;
        double off, sc;
        if (ends_with(nm, "num_batches_tracked")) continue;
        if (ends_with(nm, "running_mean")) off = 0, sc = 0.2;
        else if (ends_with(nm, "running_var")) off = 1, sc = 1;
        else if (!strncmp(nm, "fc.", 3)) off = 0, sc = 2.0 / sqrt(512.0);
        else if (t->ndim == 4) off = 0, sc = 2.0 * sqrt(6.0 / (double)(t->numel / (size_t)t->shape[0]));
        else if (ends_with(nm, "weight")) off = 1, sc = 1;
        else off = 0, sc = 0.4;
        gen(i, t->data, t->numel, off, sc);
    }
}

static pn_model *make_model(pn_freeze fr, int max_batch, int hw, int load)
{
    pn_model_config cfg = {.num_classes = K, .max_batch = max_batch, .height = hw, .width = hw,
                           .freeze = fr, .threads = 0};
    pn_model *m = NULL;
    pn_error err = {0};
    if (pn_model_create(&m, &cfg, &err)) fail_msg("create: %s", err.msg);
    if (load) {
        pn_statedict sd;
        pn_statedict_init(&sd);
        if (pn_model_save(m, &sd, &err)) fail_msg("save: %s", err.msg);
        assert_int_equal(sd.n, 122);
        fill_weights(&sd);
        if (pn_model_load(m, &sd, 0, &err)) fail_msg("load: %s", err.msg);
        pn_statedict_free(&sd);
    }
    return m;
}

static float *input(uint64_t seed, int n, int hw)
{
    size_t c = (size_t)n * 3 * hw * hw;
    float *x = malloc(c * sizeof *x);
    gen(seed, x, c, 0.0, 4.0);
    return x;
}

static double max_abs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* Compare a model tensor with its (possibly sampled) fixture + norm. */
static void check_sampled(const char *what, const float *got, size_t numel, const pn_statedict *f,
                          const char *key, double floor_frac, double rtol)
{
    char nk[128];
    const pn_tensor *t = fx(f, key);
    size_t ns = numel <= SAMPLES ? numel : SAMPLES;
    assert_int_equal(t->numel, ns);
    float *s = malloc(ns * sizeof *s);
    for (size_t j = 0; j < ns; j++) s[j] = got[numel <= SAMPLES ? j : j * numel / SAMPLES];
    /* floor: a fraction of the tensor's largest entry (near-zero entries
     * carry the absolute rounding noise of the larger ones) */
    double fl = floor_frac * max_abs(t->data, ns);
    if (fl < 1e-12) fl = 1e-12;
    tu_assert_close(what, s, t->data, ns, fl, rtol);
    free(s);
    snprintf(nk, sizeof nk, "%s.norm", key);
    const pn_tensor *tn = pn_statedict_findc(f, nk);
    if (tn) {
        double acc = 0;
        for (size_t j = 0; j < numel; j++) acc += (double)got[j] * got[j];
        float nn = (float)sqrt(acc);
        char w2[160];
        snprintf(w2, sizeof w2, "%s (L2 norm)", what);
        tu_assert_close(w2, &nn, tn->data, 1, 1e-30, rtol);
    }
}

/* ---- eval ------------------------------------------------------------- */

static void test_eval_forward(void **state)
{
    (void)state;
    pn_statedict f;
    load_fixture("model_eval.safetensors", &f);
    pn_model *m = make_model(PN_FREEZE_FC, N, HW, 1);
    pn_error err = {0};
    float *x = input(1000, N, HW);
    float logits[N * K];
    if (pn_model_forward(m, x, N, 0, logits, &err)) fail_msg("%s", err.msg);
    const pn_tensor *want = fx(&f, "logits");
    tu_assert_close("eval logits", logits, want->data, N * K, 1e-2 * max_abs(want->data, N * K), TU_FP32_RTOL);
    /* stage taps, and running from a tap */
    pn_stage st[] = {PN_STAGE_LAYER2, PN_STAGE_LAYER3, PN_STAGE_POOL};
    const char *key[] = {"tap.layer2", "tap.layer3", "tap.pool"};
    for (int i = 0; i < 3; i++) {
        size_t cnt = N * pn_model_stage_numel(m, st[i]);
        const pn_tensor *t = fx(&f, key[i]);
        assert_int_equal(cnt, t->numel);
        float *o = malloc(cnt * sizeof *o);
        if (pn_model_run(m, PN_STAGE_INPUT, x, N, st[i], 0, o, &err)) fail_msg("%s", err.msg);
        tu_assert_close(key[i], o, t->data, cnt, 1e-1 * max_abs(t->data, cnt), TU_FP32_RTOL);
        float lg[N * K];
        if (pn_model_run(m, st[i], t->data, N, PN_STAGE_LOGITS, 0, lg, &err)) fail_msg("%s", err.msg);
        tu_assert_close("logits from tap", lg, want->data, N * K, 1e-2 * max_abs(want->data, N * K), TU_FP32_RTOL);
        free(o);
    }
    /* batch 1 (ops rebuilt for another batch size) */
    if (pn_model_forward(m, x + 3 * HW * HW, 1, 0, logits, &err)) fail_msg("%s", err.msg);
    tu_assert_close("eval logits batch 1", logits, (float *)want->data + K, K, 1e-2 * max_abs(want->data, N * K), TU_FP32_RTOL);
    free(x);
    pn_model_free(m);

    /* full 224x224 */
    m = make_model(PN_FREEZE_FC, 1, 224, 1);
    x = input(1001, 1, 224);
    if (pn_model_forward(m, x, 1, 0, logits, &err)) fail_msg("%s", err.msg);
    want = fx(&f, "logits224");
    tu_assert_close("eval logits 224", logits, want->data, K, 1e-2 * max_abs(want->data, K), TU_FP32_RTOL);
    float feat[512];
    if (pn_model_run(m, PN_STAGE_INPUT, x, 1, PN_STAGE_POOL, 0, feat, &err)) fail_msg("%s", err.msg);
    want = fx(&f, "pool224");
    tu_assert_close("pool 224", feat, want->data, 512, 1e-2 * max_abs(want->data, 512), TU_FP32_RTOL);
    free(x);
    pn_model_free(m);
    pn_statedict_free(&f);
}

/* threads setting: 1 thread gives the same logits */
static void test_threads(void **state)
{
    (void)state;
    pn_statedict f;
    load_fixture("model_eval.safetensors", &f);
    pn_model_config cfg = {.num_classes = K, .max_batch = N, .height = HW, .width = HW,
                           .freeze = PN_FREEZE_FC, .threads = 1};
    pn_model *m = NULL;
    pn_error err = {0};
    assert_int_equal(pn_model_create(&m, &cfg, &err), PN_OK);
    assert_int_equal(pn__get_threads(), 1);
    pn_statedict sd;
    pn_statedict_init(&sd);
    assert_int_equal(pn_model_save(m, &sd, &err), PN_OK);
    fill_weights(&sd);
    assert_int_equal(pn_model_load(m, &sd, 0, &err), PN_OK);
    float *x = input(1000, N, HW), logits[N * K];
    assert_int_equal(pn_model_forward(m, x, N, 0, logits, &err), PN_OK);
    const pn_tensor *want = fx(&f, "logits");
    tu_assert_close("eval logits, 1 thread", logits, want->data, N * K, 1e-2 * max_abs(want->data, N * K), TU_FP32_RTOL);
    pn__set_threads(0);
    assert_true(pn__get_threads() >= 1);
    free(x);
    pn_statedict_free(&sd);
    pn_model_free(m);
    pn_statedict_free(&f);
}

/* ---- training-mode gradients per freeze level ---------------------------- */

static void check_train(pn_freeze fr, const char *fixture, pn_stage from)
{
    pn_statedict f;
    load_fixture(fixture, &f);
    pn_model *m = make_model(fr, N, HW, 1);
    pn_error err = {0};
    float *x = input(1000, N, HW);
    int labels[N] = {0, 2};
    const float *cw = fx(&f, "class_weights")->data;
    const int64_t *fl = fx(&f, "labels")->data;
    for (int i = 0; i < N; i++) assert_int_equal(labels[i], (int)fl[i]);
    float *in = x, loss, logits[N * K];
    if (from != PN_STAGE_INPUT) { /* cache the frozen part, train from the cache */
        in = malloc(N * pn_model_stage_numel(m, from) * sizeof *in);
        if (pn_model_run(m, PN_STAGE_INPUT, x, N, from, 0, in, &err)) fail_msg("%s", err.msg);
    }
    if (pn_model_backward_from(m, from, in, labels, N, cw, &loss, logits, &err)) fail_msg("%s", err.msg);
    const pn_tensor *lw = fx(&f, "logits");
    tu_assert_close("train logits", logits, lw->data, N * K, 1e-2 * max_abs(lw->data, N * K), 1e-4);
    tu_assert_close("loss", &loss, fx(&f, "loss")->data, 1, 1e-30, 1e-5);
    /* every parameter: gradient iff in the fixture */
    pn_statedict sd;
    pn_statedict_init(&sd);
    if (pn_model_save(m, &sd, &err)) fail_msg("%s", err.msg);
    int ngrads = 0, nbuf = 0;
    for (size_t i = 0; i < sd.n; i++) {
        const char *nm = sd.t[i].name;
        char key[128];
        size_t numel = 0;
        if (ends_with(nm, "running_mean") || ends_with(nm, "running_var") ||
            ends_with(nm, "num_batches_tracked")) {
            snprintf(key, sizeof key, "buf.%s", nm);
            const pn_tensor *b = pn_statedict_findc(&f, key);
            if (!b) continue;
            nbuf++;
            if (b->dtype == PN_I64) {
                if (*(int64_t *)b->data != *(int64_t *)sd.t[i].data)
                    fail_msg("%s: got %lld want %lld", nm, (long long)*(int64_t *)sd.t[i].data,
                             (long long)*(int64_t *)b->data);
            } else {
                /* running stats mix in the batch stats: same scale-relative
                 * tolerance as the gradients */
                tu_assert_close(nm, sd.t[i].data, b->data, b->numel, max_abs(b->data, b->numel), 1e-4);
            }
            continue;
        }
        snprintf(key, sizeof key, "grad.%s", nm);
        numel = pn_model_numel(m, nm);
        float *g = malloc(numel * sizeof *g);
        pn_status gs = pn_model_get_grad(m, nm, g, numel, &err);
        const pn_tensor *want = pn_statedict_findc(&f, key);
        if (!want) {
            if (gs != PN_E_ARG) fail_msg("%s has a gradient but is frozen in PyTorch", nm);
            free(g);
            continue;
        }
        if (gs) fail_msg("%s: no gradient (trainable in PyTorch): %s", nm, err.msg);
        assert_int_equal(numel, sd.t[i].numel);
        check_sampled(key, g, numel, &f, key, 1.0, 1e-4);
        free(g);
        ngrads++;
    }
    int want_grads = 0;
    for (size_t i = 0; i < f.n; i++)
        if (!strncmp(f.t[i].name, "grad.", 5) && !ends_with(f.t[i].name, ".norm")) want_grads++;
    assert_int_equal(ngrads, want_grads);
    assert_true(nbuf >= 20); /* all num_batches_tracked at least */
    print_message("%s: %d gradients, %d buffers match (loss %.6f)\n", fixture, ngrads, nbuf, loss);
    pn_statedict_free(&sd);
    if (in != x) free(in);
    free(x);
    pn_model_free(m);
    pn_statedict_free(&f);
}

static void test_train_fc(void **s) { (void)s; check_train(PN_FREEZE_FC, "model_train_fc.safetensors", PN_STAGE_INPUT); }
static void test_train_fc_cached(void **s) { (void)s; check_train(PN_FREEZE_FC, "model_train_fc.safetensors", PN_STAGE_POOL); }
static void test_train_layer4(void **s) { (void)s; check_train(PN_FREEZE_LAYER4, "model_train_layer4.safetensors", PN_STAGE_INPUT); }
static void test_train_layer4_cached(void **s) { (void)s; check_train(PN_FREEZE_LAYER4, "model_train_layer4.safetensors", PN_STAGE_LAYER3); }
static void test_train_layer3(void **s) { (void)s; check_train(PN_FREEZE_LAYER3, "model_train_layer3.safetensors", PN_STAGE_LAYER2); }
static void test_train_none(void **s) { (void)s; check_train(PN_FREEZE_NONE, "model_train_none.safetensors", PN_STAGE_INPUT); }

/* ---- three Adam steps ------------------------------------------------- */

static void check_adam3(pn_freeze fr, const char *fixture, double rtol)
{
    pn_statedict f;
    load_fixture(fixture, &f);
    pn_model *m = make_model(fr, N, HW, 1);
    pn_error err = {0};
    int labels[N] = {0, 2};
    const float cw[K] = {0.5f, 2.0f, 1.5f};
    for (int s = 0; s < 3; s++) {
        float *x = input(2000 + s, N, HW), loss;
        char key[16];
        if (pn_model_train_step(m, x, labels, N, cw, 1e-3, &loss, NULL, &err)) fail_msg("%s", err.msg);
        snprintf(key, sizeof key, "loss%d", s);
        tu_assert_close(key, &loss, fx(&f, key)->data, 1, 1e-30, TU_FP32_RTOL);
        free(x);
    }
    assert_int_equal(pn_model_adam_steps(m), 3);
    int n = 0;
    for (size_t i = 0; i < f.n; i++) {
        const char *key = f.t[i].name;
        if (ends_with(key, ".norm")) continue;
        const char *nm;
        if (!strncmp(key, "param.", 6)) nm = key + 6;
        else if (!strncmp(key, "buf.", 4)) nm = key + 4;
        else continue;
        size_t numel = pn_model_numel(m, nm);
        if (!numel) fail_msg("%s not in the model", key);
        float *p = malloc(numel * sizeof *p);
        if (pn_model_get(m, nm, p, numel, &err)) fail_msg("%s", err.msg);
        /* parameters after 3 steps: float precision of the update */
        check_sampled(key, p, numel, &f, key, 1.0, rtol);
        free(p);
        n++;
    }
    print_message("%s: %d tensors match\n", fixture, n);
    pn_model_free(m);
    pn_statedict_free(&f);
}

static void test_adam3_fc(void **s) { (void)s; check_adam3(PN_FREEZE_FC, "model_adam3_fc.safetensors", 10 * TU_FP32_RTOL); }
static void test_adam3_layer4(void **s) { (void)s; /* Adam scales every element's step to about lr whatever its gradient, so
 * elements whose gradient is near zero turn float noise of the backward
 * into up to lr of difference: 1e-3 of the weight scale after 3 steps
 * (100 x the fp32 limit; measured 1.3e-3 on AVX2, see tu_fp32_rtol). */
check_adam3(PN_FREEZE_LAYER4, "model_adam3_layer4.safetensors", 100 * TU_FP32_RTOL); }

/* ---- three steps with the other optimisers (tests/pytorch/make_optim_fixtures.py):
 * layer4 + fc, a different lr per step (as a schedule gives), pn_model_set_optim */

static void check_optim3(const char *name, const pn_optim *o, const double lrs[3], double rtol)
{
    pn_statedict f;
    load_fixture("train_optim.safetensors", &f);
    pn_model *m = make_model(PN_FREEZE_LAYER4, N, HW, 1);
    pn_error err = {0};
    if (pn_model_set_optim(m, o, &err)) fail_msg("%s", err.msg);
    int labels[N] = {0, 2};
    const float cw[K] = {0.5f, 2.0f, 1.5f};
    char key[128];
    for (int s = 0; s < 3; s++) {
        float *x = input(2000 + s, N, HW), loss;
        if (pn_model_train_step(m, x, labels, N, cw, lrs[s], &loss, NULL, &err)) fail_msg("%s", err.msg);
        snprintf(key, sizeof key, "model_%s_loss%d", name, s);
        /* the loss before any step: the fp32 limit; after an Adam(W) step the
         * parameters carry that optimiser's amplified noise (rtol, below), and
         * the loss a little of it: 1.19e-5 measured on a Zen 4 AVX-512 CPU
         * (AdamW step 1), so 10x the fp32 limit, never looser than rtol */
        double lrtol = s == 0 ? TU_FP32_RTOL : fmin(rtol, 10 * TU_FP32_RTOL);
        tu_assert_close(key, &loss, fx(&f, key)->data, 1, 1e-30, lrtol);
        free(x);
    }
    int n = 0;
    char pre[64];
    snprintf(pre, sizeof pre, "model_%s_param.", name);
    for (size_t i = 0; i < f.n; i++) {
        const char *k = f.t[i].name;
        if (strncmp(k, pre, strlen(pre)) || ends_with(k, ".norm")) continue;
        const char *nm = k + strlen(pre);
        size_t numel = pn_model_numel(m, nm);
        if (!numel) fail_msg("%s not in the model", k);
        float *p = malloc(numel * sizeof *p);
        if (pn_model_get(m, nm, p, numel, &err)) fail_msg("%s", err.msg);
        check_sampled(k, p, numel, &f, k, 1.0, rtol);
        free(p);
        n++;
    }
    assert_int_equal(n, 6 + 3 + 6 + 2); /* layer4's parameters (two blocks, a downsample) + fc */
    print_message("%s: %d tensors match\n", name, n);
    pn_model_free(m);
    pn_statedict_free(&f);
}

/* SGD moves a parameter by lr * gradient, so the backward's float noise
 * enters at its own size: the fp32 tolerance of the gradients. */
static void test_sgd3_layer4(void **s)
{
    (void)s;
    const pn_optim o = {PN_OPT_SGD, 1e-2, 0.9, 1, 0, 0, 0};
    const double lrs[3] = {1e-2, 5e-3, 2.5e-3};
    check_optim3("sgd_nesterov", &o, lrs, TU_FP32_RTOL);
}
/* AdamW: Adam's step normalisation, so the tolerance of test_adam3_layer4 */
static void test_adamw3_layer4(void **s)
{
    (void)s;
    const pn_optim o = {PN_OPT_ADAMW, 0.1, 0, 0, 0, 0, 0};
    const double lrs[3] = {1e-3, 5e-4, 2.5e-4};
    check_optim3("adamw", &o, lrs, 100 * TU_FP32_RTOL);
}

/* ---- --weights none: torchvision's init (tests/pytorch/make_init_fixtures.py) ---- */

static void test_init_torchvision(void **state)
{
    (void)state;
    pn_statedict f;
    load_fixture("model_init.safetensors", &f);
    pn_model_config cfg = {.num_classes = 2, .max_batch = 1, .height = 64, .width = 64,
                           .freeze = PN_FREEZE_NONE, .threads = 0};
    pn_model *m = NULL;
    pn_error err = {0};
    if (pn_model_create(&m, &cfg, &err)) fail_msg("%s", err.msg);
    if (pn_model_init_torchvision(m, 7, &err)) fail_msg("%s", err.msg);
    pn_statedict sd;
    pn_statedict_init(&sd);
    if (pn_model_save(m, &sd, &err)) fail_msg("%s", err.msg);
    /* fc: nn.Linear's init from the same generator position, bit for bit */
    const pn_tensor *w = pn_statedict_findc(&sd, "fc.weight"), *b = pn_statedict_findc(&sd, "fc.bias");
    assert_memory_equal(w->data, fx(&f, "fc.weight")->data, 1024 * sizeof(float));
    assert_memory_equal(b->data, fx(&f, "fc.bias")->data, 2 * sizeof(float));
    /* convs: torch's draws in torch's order; the values agree to float
     * rounding of the Box-Muller transcendental functions (torch's AVX2
     * kernel uses Sleef, pneumo libm): 1e-5 of the init std (floor) */
    const pn_tensor *c1 = pn_statedict_findc(&sd, "conv1.weight");
    tu_assert_close("conv1.weight", c1->data, fx(&f, "conv1.weight")->data, c1->numel,
                    sqrt(2.0 / (64 * 49)), 1e-5);
    const pn_tensor *c4 = pn_statedict_findc(&sd, "layer4.1.conv2.weight");
    tu_assert_close("layer4.1.conv2.weight", c4->data, fx(&f, "layer4.1.conv2.weight")->data, 4096,
                    sqrt(2.0 / (512 * 9)), 1e-5);
    /* every conv: mean 0 and std sqrt(2 / fan_out) as torchvision's */
    int nconv = 0;
    for (size_t i = 0; i < sd.n; i++) {
        const pn_tensor *t = &sd.t[i];
        const char *nm = t->name;
        if (t->ndim == 4) {
            char key[96];
            snprintf(key, sizeof key, "stat.%s", nm);
            const float *ref = fx(&f, key)->data;
            double s1 = 0, s2 = 0;
            const float *d = t->data;
            for (size_t k = 0; k < t->numel; k++) s1 += d[k];
            double mean = s1 / (double)t->numel;
            for (size_t k = 0; k < t->numel; k++) s2 += (d[k] - mean) * (d[k] - mean);
            double sd_ = sqrt(s2 / (double)t->numel);
            double want = sqrt(2.0 / (double)(t->shape[0] * t->shape[2] * t->shape[3]));
            /* same draws: the statistics agree closely with torch's, and with the
             * formula within sampling error (n >= 4096: 3 / sqrt(2n) relative) */
            if (fabs(sd_ - ref[1]) > 1e-5 * ref[1] || fabs(mean - ref[0]) > 1e-5 * ref[1])
                fail_msg("%s: mean %g std %g, torchvision %g %g", nm, mean, sd_, ref[0], ref[1]);
            if (fabs(sd_ - want) > 3 / sqrt(2.0 * (double)t->numel) * want)
                fail_msg("%s: std %g, kaiming fan_out %g", nm, sd_, want);
            nconv++;
        } else if (t->dtype == PN_F32) {
            double v = ends_with(nm, "running_var") || (ends_with(nm, ".weight") && strncmp(nm, "fc.", 3)) ? 1 : 0;
            if (!strncmp(nm, "fc.", 3)) continue;
            const float *d = t->data;
            for (size_t k = 0; k < t->numel; k++)
                if (d[k] != v) fail_msg("%s[%zu] = %g, want %g", nm, k, d[k], v);
        }
    }
    assert_int_equal(nconv, 20);
    pn_statedict_free(&sd);
    pn_model_free(m);
    pn_statedict_free(&f);
}

static void test_adam_op(void **state)
{
    (void)state;
    pn_statedict f;
    load_fixture("model_adam_op.safetensors", &f);
    size_t n = fx(&f, "p0")->numel;
    float *p = malloc(n * sizeof *p), *mm = calloc(n, sizeof *mm), *v = calloc(n, sizeof *v);
    memcpy(p, fx(&f, "p0")->data, n * sizeof *p);
    const pn_optim ac = {0};
    for (int s = 0; s < 3; s++) {
        char key[16];
        snprintf(key, sizeof key, "g%d", s);
        pn__optim_step(&ac, 1e-3, s + 1, n, p, fx(&f, key)->data, mm, v);
    }
    /* PyTorch's order of operations: a few ulp at most */
    tu_assert_close("adam m", mm, fx(&f, "m3")->data, n, 1e-12, 1e-6);
    tu_assert_close("adam v", v, fx(&f, "v3")->data, n, 1e-20, 1e-6);
    tu_assert_close("adam p", p, fx(&f, "p3")->data, n, 1e-3, 1e-6);
    free(p);
    free(mm);
    free(v);
    pn_statedict_free(&f);
}

/* ---- load / save / bad input -------------------------------------------- */

static void test_load_save_errors(void **state)
{
    (void)state;
    pn_model *m = make_model(PN_FREEZE_FC, 2, 64, 1);
    pn_error err = {0};
    pn_statedict sd;
    pn_statedict_init(&sd);
    assert_int_equal(pn_model_save(m, &sd, &err), PN_OK);
    assert_int_equal(sd.n, 122);
    assert_string_equal(sd.t[0].name, "conv1.weight");
    assert_string_equal(sd.t[5].name, "bn1.num_batches_tracked");
    assert_int_equal(sd.t[5].dtype, PN_I64);
    assert_string_equal(sd.t[121].name, "fc.bias");
    /* round trip: a second model loaded from the save gives the same logits */
    pn_model *m2 = make_model(PN_FREEZE_NONE, 2, 64, 0);
    assert_int_equal(pn_model_load(m2, &sd, 0, &err), PN_OK);
    float *x = input(7, 2, 64), l1[2 * K], l2[2 * K];
    assert_int_equal(pn_model_forward(m, x, 2, 0, l1, &err), PN_OK);
    assert_int_equal(pn_model_forward(m2, x, 2, 0, l2, &err), PN_OK);
    assert_memory_equal(l1, l2, sizeof l1);
    /* missing + unexpected + mis-shaped: one error naming them all */
    pn_statedict bad;
    pn_statedict_init(&bad);
    for (size_t i = 0; i < sd.n; i++) {
        pn_tensor *t = &sd.t[i];
        if (!strcmp(t->name, "layer2.1.bn2.bias")) continue;
        int64_t sh[4] = {t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
        if (!strcmp(t->name, "layer3.0.conv1.weight")) sh[1] = 64;
        assert_int_equal(pn_statedict_add(&bad, t->name, t->dtype, t->ndim, sh, NULL, NULL, &err), PN_OK);
    }
    int64_t one = 1;
    assert_int_equal(pn_statedict_add(&bad, "module.extra", PN_F32, 1, &one, NULL, NULL, &err), PN_OK);
    assert_int_equal(pn_model_load(m, &bad, 0, &err), PN_E_FORMAT);
    print_message("expected error: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "layer2.1.bn2.bias"));
    assert_non_null(strstr(err.msg, "module.extra"));
    assert_non_null(strstr(err.msg, "layer3.0.conv1.weight"));
    /* nothing changed by the failed load */
    assert_int_equal(pn_model_forward(m, x, 2, 0, l2, &err), PN_OK);
    assert_memory_equal(l1, l2, sizeof l1);
    /* a 1000-class checkpoint into a 3-class model: fc mis-shaped unless skipped */
    pn_statedict big;
    pn_statedict_init(&big);
    for (size_t i = 0; i < sd.n; i++) {
        pn_tensor *t = &sd.t[i];
        int64_t sh[4] = {t->shape[0], t->shape[1], t->shape[2], t->shape[3]};
        if (!strncmp(t->name, "fc.", 3)) sh[0] = 1000;
        assert_int_equal(pn_statedict_add(&big, t->name, t->dtype, t->ndim, sh, t->ndim == 4 || strncmp(t->name, "fc.", 3) ? t->data : NULL, NULL, &err), PN_OK);
    }
    assert_int_equal(pn_model_load(m2, &big, 0, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "fc.weight"));
    assert_int_equal(pn_model_load(m2, &big, 1, &err), PN_OK);
    assert_int_equal(pn_model_forward(m2, x, 2, 0, l2, &err), PN_OK);
    assert_memory_equal(l1, l2, sizeof l1); /* fc kept */
    free(x);
    pn_statedict_free(&big);
    pn_statedict_free(&bad);
    pn_statedict_free(&sd);
    pn_model_free(m);
    pn_model_free(m2);
}

static void test_bad_input(void **state)
{
    (void)state;
    pn_error err = {0};
    pn_model *m = NULL;
    pn_model_config c = {.num_classes = 0, .max_batch = 2, .height = 64, .width = 64};
    assert_int_equal(pn_model_create(&m, &c, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "num_classes"));
    c.num_classes = 2;
    c.height = c.width = 16;
    assert_int_equal(pn_model_create(&m, &c, &err), PN_E_UNSUPPORTED);
    assert_non_null(strstr(err.msg, "16x16"));
    c.height = c.width = 64;
    c.freeze = (pn_freeze)9;
    assert_int_equal(pn_model_create(&m, &c, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "freeze"));
    c.freeze = PN_FREEZE_LAYER4;
    c.max_batch = 0;
    assert_int_equal(pn_model_create(&m, &c, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "max_batch"));
    assert_null(m);

    m = make_model(PN_FREEZE_LAYER4, 2, 64, 1);
    float *x = input(3, 3, 64), lg[3 * K], loss;
    int labels[3] = {0, 1, 2};
    assert_int_equal(pn_model_forward(m, x, 3, 0, lg, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "max_batch=2"));
    int badl[2] = {0, 3};
    assert_int_equal(pn_model_train_step(m, x, badl, 2, NULL, 1e-3, &loss, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "label 3"));
    /* layer4 training cannot start after layer4's input */
    float feat[2 * 512] = {0};
    assert_int_equal(pn_model_train_step_from(m, PN_STAGE_POOL, feat, labels, 2, NULL, 1e-3, &loss, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "layer4"));
    /* batch-stat BN with one value per channel (batch 1, layer4 1x1) */
    pn_model_free(m);
    m = make_model(PN_FREEZE_LAYER4, 2, 32, 1);
    assert_int_equal(pn_model_train_step(m, x, labels, 1, NULL, 1e-3, &loss, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "more than 1 value"));
    assert_int_equal(pn_model_train_step(m, x, labels, 2, NULL, 1e-3, &loss, NULL, &err), PN_OK);
    assert_true(isfinite(loss));
    {
        size_t nw = pn_model_numel(m, "layer4.1.conv2.weight");
        assert_int_equal(nw, 512 * 512 * 9);
        float *g = malloc(nw * sizeof *g);
        assert_int_equal(pn_model_get_grad(m, "layer3.1.conv2.weight", g, nw, &err), PN_E_ARG);
        assert_int_equal(pn_model_get_grad(m, "layer4.1.conv2.weight", g, nw, &err), PN_OK);
        assert_int_equal(pn_model_get_grad(m, "layer4.1.conv2.weight", g, nw - 1, &err), PN_E_ARG);
        free(g);
    }
    assert_int_equal(pn_model_numel(m, "no.such.tensor"), 0);
    assert_int_equal(pn_model_numel(m, "bn1.num_batches_tracked"), 0);
    float one;
    assert_int_equal(pn_model_get(m, "no.such.tensor", &one, 1, &err), PN_E_ARG);
    pn_freeze fz;
    assert_int_equal(pn_freeze_parse("all", &fz), 0);
    assert_int_equal(fz, PN_FREEZE_NONE);
    assert_int_not_equal(pn_freeze_parse("layer5", &fz), 0);
    free(x);
    pn_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eval_forward),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_train_fc),
        cmocka_unit_test(test_train_fc_cached),
        cmocka_unit_test(test_train_layer4),
        cmocka_unit_test(test_train_layer4_cached),
        cmocka_unit_test(test_train_layer3),
        cmocka_unit_test(test_train_none),
        cmocka_unit_test(test_adam3_fc),
        cmocka_unit_test(test_adam3_layer4),
        cmocka_unit_test(test_adam_op),
        cmocka_unit_test(test_sgd3_layer4),
        cmocka_unit_test(test_adamw3_layer4),
        cmocka_unit_test(test_init_torchvision),
        cmocka_unit_test(test_load_save_errors),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
