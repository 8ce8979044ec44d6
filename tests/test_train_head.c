/* Head training: parity with PyTorch (5 epochs, plain and class-weighted
 * loss, no shuffling) using the engine's head ops, softmax, class weights, resume
 * after an interruption equals an unbroken run, checkpoint corruption. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/eval.h"
#include "pneumo/train.h"
#include "pneumo/util.h"
#include "train_st.h"

static void test_parity_pytorch(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("train_head.safetensors"));
    size_t nx, ny, n;
    const float *x = st_f32(&f, "x", &nx);
    const int64_t *y64 = st_i64(&f, "y", &ny);
    int *y = malloc(ny * sizeof *y);
    for (size_t i = 0; i < ny; i++) y[i] = (int)y64[i];
    pn_featset fs = {ny, 512, x, y};
    const char *names[2] = {"plain", "weighted"};
    for (int k = 0; k < 2; k++) {
        char key[64];
        pn_fit_cfg cfg;
        pn_fit_cfg_default(&cfg);
        cfg.seed = 3;
        cfg.shuffle = 0;
        cfg.balance = k ? PN_BALANCE_WEIGHT : PN_BALANCE_NONE;
        pn_head_state st;
        pn_error err = {0};
        assert_int_equal(pn_head_train(&cfg, &fs, NULL, &st, &err), PN_OK);
        /* the seeded init is torch's, bit for bit: check via a fresh init */
        pn_rng g;
        float w0[1024], b0[2];
        pn_rng_seed(&g, 3);
        pn_rng_linear_init(&g, w0, b0, 2, 512);
        snprintf(key, sizeof key, "%s_w0", names[k]);
        assert_memory_equal(w0, st_f32(&f, key, &n), sizeof w0);
        if (k) {
            const float *cw = st_f32(&f, "class_weight", &n);
            tu_assert_close("class weights", st.class_w, cw, 2, 1e-6, 1e-7);
        }
        snprintf(key, sizeof key, "%s_losses", names[k]);
        const float *lw = st_f32(&f, key, &n);
        assert_int_equal(n, 5);
        float lg[5];
        for (int e = 0; e < 5; e++) lg[e] = (float)st.hist[e].train_loss;
        tu_assert_close(key, lg, lw, 5, 1e-6, 1e-5);
        snprintf(key, sizeof key, "%s_w", names[k]);
        tu_assert_close(key, st.w, st_f32(&f, key, &n), 1024, 1e-3, 1e-5);
        snprintf(key, sizeof key, "%s_b", names[k]);
        tu_assert_close(key, st.b, st_f32(&f, key, &n), 2, 1e-3, 1e-5);
        pn_head_state_free(&st);
    }
    free(y);
    st_free(&f);
}

/* softmax: hand cases, and stability for large logits */
static void test_softmax(void **state)
{
    (void)state;
    float z[6] = {0, 0, 0, logf(3.0f), 1000, 1000}, p[6];
    pn_softmax(z, 3, 2, p);
    float want[6] = {0.5f, 0.5f, 0.25f, 0.75f, 0.5f, 0.5f};
    tu_assert_close("softmax", p, want, 6, 1e-6, 1e-6);
}

static void test_class_weights(void **state)
{
    (void)state;
    int y[800];
    for (int i = 0; i < 800; i++) y[i] = i < 200 ? 0 : 1;
    float w[2];
    pn_error err = {0};
    assert_int_equal(pn_class_weights(y, 800, 2, w, &err), PN_OK);
    /* 800 / (2 * 200) = 2, 800 / (2 * 600) = 2/3 */
    assert_true(w[0] == 2.0f);
    assert_true(w[1] == (float)(2.0 / 3.0));
    for (int i = 0; i < 800; i++) y[i] = 1;
    assert_int_equal(pn_class_weights(y, 800, 2, w, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "class 0"));
    /* balanced sampling: about half of each class, only valid items */
    for (int i = 0; i < 800; i++) y[i] = i < 100 ? 0 : 1;
    int64_t idx[800];
    pn_rng g;
    pn_rng_seed(&g, 1);
    assert_int_equal(pn_balanced_sample(&g, y, 800, 2, idx, &err), PN_OK);
    int c0 = 0;
    for (int i = 0; i < 800; i++) {
        assert_true(idx[i] >= 0 && idx[i] < 800);
        c0 += y[idx[i]] == 0;
    }
    assert_true(c0 > 340 && c0 < 460);
    pn_balance b;
    assert_int_equal(pn_balance_parse("sample", &b, &err), PN_OK);
    assert_int_equal(b, PN_BALANCE_SAMPLE);
    assert_int_equal(pn_balance_parse("oversample", &b, &err), PN_E_ARG);
}

typedef struct {
    int stop_after;
    int cancel;
} stopper;

static void stop_cb(const pn_epoch_stats *s, void *user)
{
    stopper *sp = user;
    if (s->epoch == sp->stop_after) sp->cancel = 1;
}

static void test_resume(void **state)
{
    (void)state;
    enum { N = 150, D = 24 };
    float *x = malloc(N * D * sizeof *x);
    int y[N];
    tu_fill_uniform(x, N * D, 11, 0, 2);
    for (int i = 0; i < N; i++) {
        y[i] = (i * 7) % 10 < 3 ? 0 : 1;
        x[i * D] += y[i];
    }
    pn_featset tr = {N - 30, D, x, y}, va = {30, D, x + (N - 30) * D, y + N - 30};
    const char *dir = tu_tmpdir();
    char ck1[512], ck2[512];
    snprintf(ck1, sizeof ck1, "%s/a.ckpt", dir);
    snprintf(ck2, sizeof ck2, "%s/b.ckpt", dir);
    pn_error err = {0};
    for (int bal = 0; bal < 2; bal++) {
        pn_fit_cfg cfg;
        pn_fit_cfg_default(&cfg);
        cfg.seed = 77;
        cfg.batch = 16;
        cfg.balance = bal ? PN_BALANCE_SAMPLE : PN_BALANCE_WEIGHT;
        cfg.checkpoint = ck1;
        pn_head_state full, part, res;
        remove(ck1);
        remove(ck2);
        /* --resume without a checkpoint is an error naming the file, not a fresh run */
        cfg.resume = 1;
        assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_E_NOTFOUND);
        assert_non_null(strstr(err.msg, "nothing to resume"));
        assert_non_null(strstr(err.msg, ck1));
        cfg.resume = 0;
        assert_int_equal(pn_head_train(&cfg, &tr, &va, &full, &err), PN_OK);
        /* interrupted after epoch 2 ... */
        stopper sp = {2, 0};
        cfg.checkpoint = ck2;
        cfg.on_epoch = stop_cb;
        cfg.user = &sp;
        cfg.cancel = &sp.cancel;
        assert_int_equal(pn_head_train(&cfg, &tr, &va, &part, &err), PN_E_INTERRUPTED);
        assert_non_null(strstr(err.msg, "--resume"));
        pn_head_state ck = {0};
        pn_trainer t;
        assert_int_equal(pn_head_trainer_create(&t, 2, D, 16, &err), PN_OK);
        assert_int_equal(pn_checkpoint_load(ck2, &t, &ck, 0, &err), PN_OK);
        assert_int_equal(ck.epochs_done, 2);
        pn_head_state_free(&ck);
        pn_trainer_free(&t);
        /* ... then resumed: the same model and history as the unbroken run */
        cfg.on_epoch = NULL;
        cfg.cancel = NULL;
        cfg.resume = 1;
        assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_OK);
        assert_int_equal(res.epochs_done, 5);
        assert_memory_equal(res.w, full.w, D * 2 * sizeof(float));
        assert_memory_equal(res.b, full.b, 2 * sizeof(float));
        for (int e = 0; e < 5; e++) {
            assert_true(res.hist[e].train_loss == full.hist[e].train_loss);
            assert_true(res.hist[e].val_loss == full.hist[e].val_loss);
        }
        pn_head_state_free(&full);
        pn_head_state_free(&res);
        /* resume with other settings is refused */
        cfg.lr = 2e-3;
        assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_E_ARG);
        assert_non_null(strstr(err.msg, "another run"));
    }
    /* a corrupted checkpoint is refused */
    uint8_t *buf;
    size_t n;
    assert_int_equal(pn_read_file(ck2, 1 << 24, &buf, &n, &err), PN_OK);
    buf[n / 2] ^= 1;
    assert_int_equal(pn_write_file_atomic(ck2, buf, n, &err), PN_OK);
    pn_head_state ck = {0};
    pn_trainer t;
    assert_int_equal(pn_head_trainer_create(&t, 2, D, 16, &err), PN_OK);
    assert_int_equal(pn_checkpoint_load(ck2, &t, &ck, 0, &err), PN_E_FORMAT);
    assert_non_null(strstr(err.msg, "checksum"));
    assert_int_equal(pn_write_file_atomic(ck2, buf, 100, &err), PN_OK);
    assert_int_equal(pn_checkpoint_load(ck2, &t, &ck, 0, &err), PN_E_FORMAT);
    pn_trainer_free(&t);
    free(buf);
    /* NaN features: training stops with a numeric error */
    x[5] = NAN;
    pn_fit_cfg cfg;
    pn_fit_cfg_default(&cfg);
    pn_head_state st;
    assert_int_equal(pn_head_train(&cfg, &tr, NULL, &st, &err), PN_E_NUMERIC);
    assert_non_null(strstr(err.msg, "epoch 1"));
    /* an empty train split */
    pn_featset empty = {0, D, x, y};
    assert_int_equal(pn_head_train(&cfg, &empty, NULL, &st, &err), PN_E_ARG);
    tu_rmtree(dir);
    free(x);
}

/* accuracy count: argmax per row, ties go to the first maximum (torch.argmax) */
static void test_count_correct(void **state)
{
    (void)state;
    const float logits[4 * 3] = {1, 2, 0,   /* -> 1 */
                                 3, 3, 1,   /* tie -> 0 */
                                 -1, -5, -0.5f, /* -> 2 */
                                 0, 7, 7};  /* tie -> 1 */
    const int yes[4] = {1, 0, 2, 1}, no[4] = {0, 1, 1, 2}, half[4] = {1, 1, 2, 2};
    assert_int_equal(pn_count_correct(logits, yes, 4, 3), 4);
    assert_int_equal(pn_count_correct(logits, no, 4, 3), 0);
    assert_int_equal(pn_count_correct(logits, half, 4, 3), 2);
    assert_int_equal(pn_count_correct(logits, yes, 0, 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity_pytorch),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_count_correct),
        cmocka_unit_test(test_class_weights),
        cmocka_unit_test(test_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
