/* Optimisers, learning-rate schedules and model selection against
 * torch.optim / torch.optim.lr_scheduler (tests/pytorch/make_optim_fixtures.py):
 * the schedules' per-epoch lr, the head recipe with other optimisers and
 * schedules (losses, lr, final weights), selection and early stopping on
 * constructed histories, and resume with a schedule + selection equal to an
 * unbroken run. (The model-level optimiser steps are in test_model.c.) */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/train.h"
#include "pneumo/util.h"
#include "train_st.h"

/* element i of a float64 fixture array (stored bit for bit as int64) */
static double f64(const st_file *f, const char *key, size_t i, size_t want_n)
{
    size_t n;
    const int64_t *v = st_i64(f, key, &n);
    if (n != want_n) fail_msg("%s: %zu values, want %zu", key, n, want_n);
    double d;
    memcpy(&d, &v[i], sizeof d);
    return d;
}

/* the fixture script's SCHEDULES table */
static const struct {
    const char *name, *spec;
    int warmup;
} scheds[] = {
    {"constant_w0", "constant", 0},          {"constant_w3", "constant", 3},
    {"step_w0", "step:5,10,10,15:0.5", 0},    {"step_w2", "step:5,12:0.1", 2},
    {"cosine_w0", "cosine", 0},              {"cosine_w4", "cosine", 4},
    {"plateau_w0", "plateau:1:0.5", 0},      {"plateau_w2", "plateau:0:0.1", 2},
};

static void test_schedules(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("train_optim.safetensors"));
    pn_epoch_stats hist[20];
    memset(hist, 0, sizeof hist);
    for (int e = 0; e < 20; e++) hist[e].val_loss = f64(&f, "plateau_val", (size_t)e, 20);
    pn_error err = {0};
    for (size_t k = 0; k < sizeof scheds / sizeof scheds[0]; k++) {
        pn_lr_schedule s = {.warmup = scheds[k].warmup};
        /* "step:5,10,10,15": a repeated milestone is refused by the parser
         * (it must increase); torch's Counter applies gamma twice there */
        if (!strcmp(scheds[k].name, "step_w0")) {
            assert_int_equal(pn_lr_schedule_parse(scheds[k].spec, &s, &err), PN_E_ARG);
            s = (pn_lr_schedule){PN_LR_STEP, 0, {5, 10, 10, 15}, 4, 0.5, 10, 0.1};
        } else {
            if (pn_lr_schedule_parse(scheds[k].spec, &s, &err)) fail_msg("%s", err.msg);
        }
        char key[64];
        snprintf(key, sizeof key, "sched_%s_lr", scheds[k].name);
        for (int e = 1; e <= 20; e++) {
            double got = pn_lr_at(&s, 0.1, 20, e, hist), want = f64(&f, key, (size_t)e - 1, 20);
            if (!(fabs(got - want) <= 1e-15 * fabs(want)))
                fail_msg("%s epoch %d: lr %.17g, torch %.17g", scheds[k].name, e, got, want);
        }
    }
    st_free(&f);
}

static void test_schedule_parse(void **state)
{
    (void)state;
    pn_error err = {0};
    pn_lr_schedule s = {.warmup = 2};
    assert_int_equal(pn_lr_schedule_parse("step:3,7:0.25", &s, &err), PN_OK);
    assert_int_equal(s.kind, PN_LR_STEP);
    assert_int_equal(s.warmup, 2); /* kept */
    assert_int_equal(s.nmilestones, 2);
    assert_int_equal(s.milestones[1], 7);
    assert_true(s.gamma == 0.25);
    char d[128];
    pn_lr_schedule_describe(&s, d, sizeof d);
    assert_string_equal(d, "step:3,7:0.25 warmup 2");
    assert_int_equal(pn_lr_schedule_check(&s, 10, 1, &err), PN_OK);
    assert_int_equal(pn_lr_schedule_check(&s, 7, 1, &err), PN_E_ARG); /* 7 is the last epoch */
    s.warmup = 3;
    assert_int_equal(pn_lr_schedule_check(&s, 10, 1, &err), PN_E_ARG); /* 3 inside the warmup */
    assert_non_null(strstr(err.msg, "warmup"));
    assert_int_equal(pn_lr_schedule_parse("plateau", &s, &err), PN_OK);
    assert_int_equal(s.patience, 10);
    assert_true(s.factor == 0.1);
    s.warmup = 0;
    assert_int_equal(pn_lr_schedule_check(&s, 10, 0, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "validation"));
    const char *bad[] = {"step:3", "step::0.1", "step:5,3:0.1", "step:3:-1", "cosin",
                         "plateau:x", "plateau:2:1.5", "step:0:0.1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (pn_lr_schedule_parse(bad[i], &s, &err) != PN_E_ARG) fail_msg("'%s' accepted", bad[i]);
    s.warmup = 5;
    assert_int_equal(pn_lr_schedule_parse("cosine", &s, &err), PN_OK);
    assert_int_equal(pn_lr_schedule_check(&s, 5, 1, &err), PN_E_ARG); /* warmup >= epochs */
}

/* the fixture script's HEADS table */
static const struct {
    const char *name;
    pn_optim o;
    double lr;
    const char *sched;
    int warmup;
} heads[] = {
    {"adam_l2_step", {PN_OPT_ADAM, 1e-2, 0, 0, 0, 0, 0}, 1e-3, "step:2,4:0.5", 0},
    {"adamw_cosine", {PN_OPT_ADAMW, 0.05, 0, 0, 0, 0, 0}, 2e-3, "cosine", 1},
    {"sgd_nesterov", {PN_OPT_SGD, 1e-3, 0.9, 1, 0, 0, 0}, 0.01, "step:3:0.1", 2},
    {"sgd_plain", {PN_OPT_SGD, 0, 0, 0, 0, 0, 0}, 0.1, "constant", 2},
    {"sgd_momentum_plateau", {PN_OPT_SGD, 0, 0.5, 0, 0, 0, 0}, 0.2, "plateau:0:0.5", 1},
};

static void test_head_parity(void **state)
{
    (void)state;
    st_file f;
    st_load(&f, tu_fixture("train_optim.safetensors"));
    size_t nx, ny, n;
    const float *x = st_f32(&f, "head_x", &nx);
    const int64_t *y64 = st_i64(&f, "head_y", &ny);
    int y[100];
    assert_int_equal(ny, 100);
    for (size_t i = 0; i < ny; i++) y[i] = (int)y64[i];
    pn_featset tr = {80, 512, x, y}, va = {20, 512, x + 80 * 512, y + 80};
    for (size_t k = 0; k < sizeof heads / sizeof heads[0]; k++) {
        char key[96], kl[96], klo[96], kv[96];
        pn_fit_cfg cfg;
        pn_fit_cfg_default(&cfg);
        cfg.seed = 3;
        cfg.shuffle = 0;
        cfg.balance = PN_BALANCE_NONE;
        cfg.lr = heads[k].lr;
        cfg.optim = heads[k].o;
        pn_error err = {0};
        cfg.schedule.warmup = heads[k].warmup;
        if (pn_lr_schedule_parse(heads[k].sched, &cfg.schedule, &err)) fail_msg("%s", err.msg);
        pn_head_state st;
        if (pn_head_train(&cfg, &tr, &va, &st, &err)) fail_msg("%s: %s", heads[k].name, err.msg);
        float got[5], want[5], gv[5], wv[5];
        snprintf(kl, sizeof kl, "head_%s_lr", heads[k].name);
        snprintf(klo, sizeof klo, "head_%s_losses", heads[k].name);
        snprintf(kv, sizeof kv, "head_%s_val", heads[k].name);
        for (int e = 0; e < 5; e++) {
            double wl = f64(&f, kl, (size_t)e, 5);
            if (!(fabs(st.hist[e].lr - wl) <= 1e-15 * wl))
                fail_msg("%s epoch %d: lr %.17g, torch %.17g", heads[k].name, e + 1,
                         st.hist[e].lr, wl);
            got[e] = (float)st.hist[e].train_loss;
            want[e] = (float)f64(&f, klo, (size_t)e, 5);
            gv[e] = (float)st.hist[e].val_loss;
            wv[e] = (float)f64(&f, kv, (size_t)e, 5);
        }
        /* the tolerances of the seed recipe's head parity (test_train_head.c) */
        snprintf(key, sizeof key, "%s losses", heads[k].name);
        tu_assert_close(key, got, want, 5, 1e-6, 1e-5);
        snprintf(key, sizeof key, "%s val losses", heads[k].name);
        tu_assert_close(key, gv, wv, 5, 1e-6, 1e-5);
        /* weights: rtol 1e-5 of the seed's head parity; the floor is 1e-3 there
         * (Adam moves every weight by about lr) and the init scale 1/sqrt(512)
         * for SGD, whose steps are lr * gradient: the gradient's float
         * summation order (1e-7 of it) reaches near-zero weights unscaled */
        double floor = heads[k].o.kind == PN_OPT_SGD ? 1 / sqrt(512.0) : 1e-3;
        snprintf(key, sizeof key, "head_%s_w", heads[k].name);
        tu_assert_close(key, st.w, st_f32(&f, key, &n), 1024, floor, 1e-5);
        snprintf(key, sizeof key, "head_%s_b", heads[k].name);
        tu_assert_close(key, st.b, st_f32(&f, key, &n), 2, floor, 1e-5);
        pn_head_state_free(&st);
    }
    st_free(&f);
}

static void test_optim_check(void **state)
{
    (void)state;
    pn_error err = {0};
    pn_optim o = {PN_OPT_SGD, 0, 0, 1, 0, 0, 0};
    assert_int_equal(pn_optim_check(&o, &err), PN_E_ARG); /* nesterov without momentum */
    assert_non_null(strstr(err.msg, "nesterov"));
    o = (pn_optim){PN_OPT_ADAM, 0, 0.9, 0, 0, 0, 0};
    assert_int_equal(pn_optim_check(&o, &err), PN_E_ARG); /* momentum is SGD's */
    o = (pn_optim){PN_OPT_ADAMW, -1, 0, 0, 0, 0, 0};
    assert_int_equal(pn_optim_check(&o, &err), PN_E_ARG);
    pn_optimizer k;
    assert_int_equal(pn_optimizer_parse("adamw", &k), 0);
    assert_int_equal(k, PN_OPT_ADAMW);
    assert_int_equal(pn_optimizer_parse("rmsprop", &k), -1);
    const char *nm[2];
    o = (pn_optim){PN_OPT_SGD, 0, 0, 0, 0, 0, 0};
    assert_int_equal(pn_optim_state_names(&o, nm), 0);
    o.momentum = 0.9;
    assert_int_equal(pn_optim_state_names(&o, nm), 1);
    assert_string_equal(nm[0], "momentum_buffer");
    o = (pn_optim){0};
    assert_int_equal(pn_optim_state_names(&o, nm), 2);
    assert_string_equal(nm[1], "exp_avg_sq");
}

/* ---- selection and early stopping on constructed histories ---------------- */

static void hist_of(pn_epoch_stats *h, int n, const double *loss, const double *auc)
{
    for (int i = 0; i < n; i++)
        h[i] = (pn_epoch_stats){.epoch = i + 1, .val_loss = loss[i], .val_auc = auc[i]};
}

static void test_select(void **state)
{
    (void)state;
    pn_epoch_stats h[8];
    /* val loss: best at 3 (0.30), equal again at 5 (the first of equals wins);
     * AUC: best at 6; NaN never wins */
    const double loss[8] = {0.50, 0.40, 0.30, 0.35, 0.30, 0.31, 0.33, 0.40};
    const double auc[8] = {0.80, NAN, 0.85, 0.86, 0.86, 0.90, 0.89, 0.88};
    hist_of(h, 8, loss, auc);
    assert_int_equal(pn_select_best(PN_SELECT_LAST, h, 8), 8);
    assert_int_equal(pn_select_best(PN_SELECT_VAL_LOSS, h, 8), 3);
    assert_int_equal(pn_select_best(PN_SELECT_VAL_AUC, h, 8), 6);
    assert_int_equal(pn_select_best(PN_SELECT_VAL_AUC, h, 2), 1);
    /* patience 2 on val loss: epochs 4, 5 do not improve on 0.30 -> stop after 5 */
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_LOSS, 2, h, 4), 0);
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_LOSS, 2, h, 5), 1);
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_LOSS, 3, h, 5), 0);
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_LOSS, 3, h, 6), 1);
    /* AUC: 0.86 at 5 is not strictly better than 0.86 at 4 */
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_AUC, 1, h, 5), 1);
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_AUC, 2, h, 7), 0);
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_AUC, 2, h, 8), 1);
    /* patience off, or last: never */
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_LOSS, 0, h, 8), 0);
    assert_int_equal(pn_select_should_stop(PN_SELECT_LAST, 1, h, 8), 0);
    /* no metric at all: nothing selected, and patience counts every epoch */
    const double nan8[8] = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, NAN};
    hist_of(h, 8, nan8, nan8);
    assert_int_equal(pn_select_best(PN_SELECT_VAL_LOSS, h, 8), 0);
    assert_int_equal(pn_select_should_stop(PN_SELECT_VAL_LOSS, 3, h, 3), 1);
    char d[256];
    hist_of(h, 8, loss, auc);
    pn_select_describe(PN_SELECT_VAL_LOSS, 2, 1, h, 5, d, sizeof d);
    assert_string_equal(d, "epoch 3 of 5: lowest val_loss 0.3000 (--select best:val_loss); "
                           "stopped early after epoch 5 (2 epochs without improvement, "
                           "--patience 2)");
    pn_select_describe(PN_SELECT_VAL_AUC, 0, 0, h, 8, d, sizeof d);
    assert_string_equal(d, "epoch 6 of 8: highest val_auc 0.9000 (--select best:val_auc)");
    pn_error err = {0};
    pn_select_kind k;
    assert_int_equal(pn_select_parse("best:val_auc", &k, &err), PN_OK);
    assert_int_equal(k, PN_SELECT_VAL_AUC);
    assert_int_equal(pn_select_parse("best", &k, &err), PN_E_ARG);
}

/* ---- pn_fit: the selected epoch is the result; resume = unbroken run ------- */

typedef struct stopper {
    int after;
    int cancel;
} stopper;

static void stop_cb(const pn_epoch_stats *s, void *user)
{
    stopper *sp = user;
    if (s->epoch == sp->after) sp->cancel = 1;
}

static void test_fit_select_resume(void **state)
{
    (void)state;
    enum { N = 150, D = 24 };
    float *x = malloc(N * D * sizeof *x);
    int y[N];
    tu_fill_uniform(x, N * D, 5, 0, 2);
    for (int i = 0; i < N; i++) {
        y[i] = (i * 7) % 10 < 4 ? 0 : 1;
        x[i * D] += 0.3f * y[i];
    }
    pn_featset tr = {30, D, x, y}, va = {40, D, x + (N - 40) * D, y + N - 40}; /* few: it overfits */
    const char *dir = tu_tmpdir();
    char ck1[512], ck2[512];
    snprintf(ck1, sizeof ck1, "%s/a.safetensors", dir);
    snprintf(ck2, sizeof ck2, "%s/b.safetensors", dir);
    pn_error err = {0};
    pn_fit_cfg cfg;
    pn_fit_cfg_default(&cfg);
    cfg.seed = 9;
    cfg.batch = 16;
    cfg.epochs = 12;
    cfg.lr = 0.003; /* 30 items: it overfits, best epoch 7, stops after 10 */
    cfg.optim = (pn_optim){PN_OPT_SGD, 1e-3, 0.9, 1, 0, 0, 0};
    cfg.schedule.warmup = 1;
    assert_int_equal(pn_lr_schedule_parse("step:4,8:0.3", &cfg.schedule, &err), PN_OK);
    cfg.select = PN_SELECT_VAL_LOSS;
    cfg.patience = 3;
    cfg.checkpoint = ck1;
    pn_head_state full, part, res;
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &full, &err), PN_OK);
    int best = pn_select_best(PN_SELECT_VAL_LOSS, full.hist, full.epochs_done);
    assert_int_equal(full.selected_epoch, best);
    print_message("select: %d epochs run, best %d, stopped early %d\n", full.epochs_done, best,
                  full.stopped_early);
    assert_true(best >= 1);
    assert_int_equal(full.stopped_early, full.epochs_done < 12);
    if (full.stopped_early) assert_int_equal(full.epochs_done - best, 3);
    for (int e = 0; e < full.epochs_done; e++)
        assert_true(full.hist[e].lr == pn_lr_at(&cfg.schedule, 0.003, 12, e + 1, full.hist));
    /* the result is the selected epoch's head: its validation loss is that epoch's */
    pn_trainer t;
    assert_int_equal(pn_head_trainer_create(&t, 2, D, 16, &err), PN_OK);
    pn_statedict sd;
    pn_statedict_init(&sd);
    int64_t ws[2] = {2, D}, bs[1] = {2};
    assert_int_equal(pn_statedict_add(&sd, "fc.weight", PN_F32, 2, ws, full.w, NULL, &err), 0);
    assert_int_equal(pn_statedict_add(&sd, "fc.bias", PN_F32, 1, bs, full.b, NULL, &err), 0);
    assert_int_equal(t.import_state(t.ctx, &sd, 0, &err), PN_OK);
    double vl, vacc;
    const float cwt[2] = {full.class_w[0], full.class_w[1]};
    assert_int_equal(pn_fit_evaluate(&t, &va, cwt, &vl, &vacc, NULL, &err), PN_OK);
    assert_true(vl == full.hist[best - 1].val_loss);
    pn_statedict_free(&sd);
    pn_trainer_free(&t);
    assert_true(best > 3 && best < full.epochs_done);
    /* interrupted after epoch 3 (before the best) or after the best ... */
    for (int k = 0; k < 2; k++) {
        stopper sp = {k ? best + 1 : 3, 0};
        remove(ck2);
        cfg.resume = 0;
        cfg.checkpoint = ck2;
        cfg.on_epoch = stop_cb;
        cfg.user = &sp;
        cfg.cancel = &sp.cancel;
        assert_int_equal(pn_head_train(&cfg, &tr, &va, &part, &err), PN_E_INTERRUPTED);
        /* ... resumed: the same selected model, history, lr and stop as unbroken */
        cfg.on_epoch = NULL;
        cfg.cancel = NULL;
        cfg.resume = 1;
        assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_OK);
        assert_int_equal(res.epochs_done, full.epochs_done);
        assert_int_equal(res.selected_epoch, full.selected_epoch);
        assert_int_equal(res.stopped_early, full.stopped_early);
        assert_memory_equal(res.w, full.w, D * 2 * sizeof(float));
        assert_memory_equal(res.b, full.b, 2 * sizeof(float));
        for (int e = 0; e < full.epochs_done; e++) {
            assert_true(res.hist[e].lr == full.hist[e].lr);
            assert_true(res.hist[e].val_loss == full.hist[e].val_loss);
        }
        pn_head_state_free(&res);
    }
    /* resuming a finished early-stopped run trains nothing more */
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_OK);
    assert_int_equal(res.epochs_done, full.epochs_done);
    assert_memory_equal(res.w, full.w, D * 2 * sizeof(float));
    pn_head_state_free(&res);
    /* a different optimiser cannot resume this checkpoint */
    cfg.optim.nesterov = 0;
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "another run"));
    /* --patience needs a best:* selection; selection needs validation */
    cfg.resume = 0;
    cfg.select = PN_SELECT_LAST;
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "--patience"));
    cfg.select = PN_SELECT_VAL_AUC;
    cfg.patience = 0;
    assert_int_equal(pn_head_train(&cfg, &tr, NULL, &res, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "validation"));
    pn_head_state_free(&full);
    tu_rmtree(dir);
    free(x);
}

/* a stand-in augmentation: noise drawn from the training generator */
static pn_status noise_cb(void *ctx, pn_rng *g, float *item, pn_error *err)
{
    (void)err;
    int *calls = ctx;
    float u[24];
    pn_rng_uniform(g, u, 24, -0.5, 0.5);
    for (int k = 0; k < 24; k++) item[k] += u[k];
    ++*calls;
    return PN_OK;
}

/* the augmentation draws continue from the checkpointed generator: an
 * interrupted + resumed run ends with the unbroken run's model */
static void test_fit_augment_resume(void **state)
{
    (void)state;
    enum { N = 100, D = 24 };
    float *x = malloc(N * D * sizeof *x);
    int y[N];
    tu_fill_uniform(x, N * D, 8, 0, 2);
    for (int i = 0; i < N; i++) y[i] = i % 3 == 0;
    pn_featset tr = {80, D, x, y}, va = {20, D, x + 80 * D, y + 80};
    const char *dir = tu_tmpdir();
    char ck[512];
    snprintf(ck, sizeof ck, "%s/c.safetensors", dir);
    pn_error err = {0};
    int calls = 0;
    pn_fit_cfg cfg;
    pn_fit_cfg_default(&cfg);
    cfg.seed = 5;
    cfg.batch = 16;
    cfg.augment = noise_cb;
    cfg.augment_ctx = &calls;
    cfg.augment_key = "noise";
    cfg.checkpoint = ck;
    pn_head_state full, part, res, plain;
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &full, &err), PN_OK);
    assert_int_equal(calls, 5 * 80); /* every item of every epoch */
    stopper sp = {2, 0};
    cfg.on_epoch = stop_cb;
    cfg.user = &sp;
    cfg.cancel = &sp.cancel;
    remove(ck);
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &part, &err), PN_E_INTERRUPTED);
    cfg.on_epoch = NULL;
    cfg.cancel = NULL;
    cfg.resume = 1;
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_OK);
    assert_memory_equal(res.w, full.w, D * 2 * sizeof(float));
    assert_memory_equal(res.b, full.b, 2 * sizeof(float));
    pn_head_state_free(&res);
    /* without the augmentation the result differs, and its checkpoint is another run's */
    cfg.augment = NULL;
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &res, &err), PN_E_ARG);
    cfg.resume = 0;
    cfg.checkpoint = NULL;
    assert_int_equal(pn_head_train(&cfg, &tr, &va, &plain, &err), PN_OK);
    assert_true(memcmp(plain.w, full.w, D * 2 * sizeof(float)) != 0);
    pn_head_state_free(&plain);
    pn_head_state_free(&full);
    tu_rmtree(dir);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedules),   cmocka_unit_test(test_schedule_parse),
        cmocka_unit_test(test_head_parity), cmocka_unit_test(test_optim_check),
        cmocka_unit_test(test_select),      cmocka_unit_test(test_fit_select_resume),
        cmocka_unit_test(test_fit_augment_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
