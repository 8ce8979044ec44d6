/* Intervals: Wilson against Newcombe's (1998) published values and scipy,
 * DeLong against a hand-computed case, Hanley & McNeil's (1982) rating
 * table, an O(npos*nneg) structural-components computation and the numpy
 * reference (tests/metrics_ref.py); the paired DeLong test and the seeded
 * stratified bootstrap against the same reference. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/eval.h"
#include "pneumo/rng.h"

#define CLOSE(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

static void test_wilson_published(void **state)
{
    (void)state;
    /* Newcombe RG, Two-sided confidence intervals for the single proportion:
     * comparison of seven methods, Stat Med 1998;17:857-872, Table II,
     * method 3 (Wilson's score interval without continuity correction) */
    static const struct { size_t k, n; double lo, hi; } t[] = {
        {81, 263, 0.2553, 0.3662}, {15, 148, 0.0624, 0.1605},
        {0, 20, 0.0000, 0.1611},   {1, 29, 0.0061, 0.1718}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        pn_ci c = pn_wilson_ci(t[i].k, t[i].n, PN_Z95);
        CLOSE(c.lo, t[i].lo, 5e-5);
        CLOSE(c.hi, t[i].hi, 5e-5);
    }
    /* by hand, z = 1.96, 5/10: (0.69208 -/+ 1.96 sqrt(0.034604)) / 1.38416 */
    pn_ci c = pn_wilson_ci(5, 10, 1.96);
    CLOSE(c.lo, (0.69208 - 1.96 * sqrt(0.034604)) / 1.38416, 1e-12);
    CLOSE(c.hi, (0.69208 + 1.96 * sqrt(0.034604)) / 1.38416, 1e-12);
    assert_true(pn_wilson_ci(10, 10, PN_Z95).hi == 1.0);
    assert_true(pn_wilson_ci(0, 10, PN_Z95).lo == 0.0);
    /* undefined: 0/0 */
    c = pn_wilson_ci(0, 0, PN_Z95);
    assert_true(isnan(c.lo) && isnan(c.hi));
}

static void test_delong_hand(void **state)
{
    (void)state;
    /* X = {0.35, 0.8}, Y = {0.1, 0.4}: V10 = {0.5, 1}, V01 = {1, 0.5};
     * S10 = S01 = 0.125, var = 0.125/2 + 0.125/2 = 0.125 */
    float s[] = {0.1f, 0.4f, 0.35f, 0.8f}, b[] = {0.2f, 0.1f, 0.9f, 0.3f};
    int y[] = {0, 0, 1, 1};
    pn_error err = {0};
    pn_auc_ci a;
    assert_int_equal(pn_auc_delong(s, y, 4, PN_Z95, &a, &err), PN_OK);
    CLOSE(a.auc, 0.75, 1e-15);
    CLOSE(a.var, 0.125, 1e-15);
    CLOSE(a.ci.lo, 0.75 - PN_Z95 * sqrt(0.125), 1e-12);
    assert_true(a.ci.hi == 1.0); /* clipped */
    pn_metrics m;
    assert_int_equal(pn_metrics_compute(s, y, 4, 0.5, &m, &err), PN_OK);
    CLOSE(m.auc_se, sqrt(0.125), 1e-15);
    CLOSE(m.auc_ci.lo, a.ci.lo, 0);
    /* the Wilson intervals of the metrics: acc 3/4, sens 1/2, spec 2/2, ppv 1/1, npv 2/3 */
    pn_ci w = pn_wilson_ci(3, 4, PN_Z95);
    CLOSE(m.accuracy_ci.lo, w.lo, 0);
    w = pn_wilson_ci(2, 3, PN_Z95);
    CLOSE(m.npv_ci.hi, w.hi, 0);
    assert_true(m.specificity_ci.hi == 1.0 && m.ppv_ci.hi == 1.0);
    /* paired: b separates perfectly (var_b = 0, cov = 0): z = -0.25 / sqrt(0.125) */
    pn_delong_test t;
    assert_int_equal(pn_delong_paired(s, b, y, 4, &t, &err), PN_OK);
    CLOSE(t.auc_b, 1.0, 0);
    CLOSE(t.var_b, 0.0, 0);
    CLOSE(t.cov, 0.0, 1e-15);
    CLOSE(t.z, -0.25 / sqrt(0.125), 1e-12);
    CLOSE(t.p, erfc(0.25 / sqrt(0.125) / sqrt(2.0)), 1e-12);
    CLOSE(t.p, 0.4795001221869535, 1e-12); /* 2 (1 - Phi(0.7071)) */
    /* a model against itself: no difference, p = 1 */
    assert_int_equal(pn_delong_paired(s, s, y, 4, &t, &err), PN_OK);
    assert_true(t.diff == 0 && t.p == 1.0 && isnan(t.z));
}

static void test_delong_undefined(void **state)
{
    (void)state;
    float s[] = {0.9f, 0.7f, 0.2f};
    int y1[] = {1, 1, 1}, y2[] = {1, 0, 0};
    pn_error err = {0};
    pn_auc_ci a;
    assert_int_equal(pn_auc_delong(s, y1, 3, PN_Z95, &a, &err), PN_OK);
    assert_true(isnan(a.auc) && isnan(a.se) && isnan(a.ci.lo) && isnan(a.ci.hi));
    /* one positive: the AUC is defined, its DeLong variance is not */
    assert_int_equal(pn_auc_delong(s, y2, 3, PN_Z95, &a, &err), PN_OK);
    CLOSE(a.auc, 1.0, 0);
    assert_true(isnan(a.var) && isnan(a.ci.lo));
    pn_delong_test t;
    assert_int_equal(pn_delong_paired(s, s, y2, 3, &t, &err), PN_OK);
    assert_true(isnan(t.p) && isnan(t.se));
    assert_int_equal(pn_auc_delong(s, y1, 0, PN_Z95, &a, &err), PN_E_ARG);
}

/* Hanley JA, McNeil BJ, The meaning and use of the area under a ROC curve,
 * Radiology 1982;143:29-36, Table 1: 58 normal and 51 abnormal CT images
 * rated 1..5; the area (Wilcoxon) is 0.893. */
static size_t hanley_mcneil(float *s, int *y)
{
    static const int nrm[5] = {33, 6, 6, 11, 2}, abn[5] = {3, 2, 2, 11, 33};
    size_t n = 0;
    for (int r = 0; r < 5; r++) {
        for (int k = 0; k < nrm[r]; k++) s[n] = (float)(r + 1), y[n++] = 0;
        for (int k = 0; k < abn[r]; k++) s[n] = (float)(r + 1), y[n++] = 1;
    }
    return n;
}

/* DeLong's variance from the full psi matrix */
static double brute_var(const float *s, const int *y, size_t n, double *auc)
{
    size_t m = 0, k = 0;
    for (size_t i = 0; i < n; i++) y[i] ? m++ : k++;
    double *v10 = calloc(m, sizeof *v10), *v01 = calloc(k, sizeof *v01), tot = 0;
    size_t a = 0;
    for (size_t i = 0; i < n; i++) {
        if (!y[i]) continue;
        size_t b = 0;
        for (size_t j = 0; j < n; j++) {
            if (y[j]) continue;
            double psi = s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
            v10[a] += psi / (double)k;
            v01[b++] += psi / (double)m;
            tot += psi;
        }
        a++;
    }
    *auc = tot / ((double)m * (double)k);
    double s10 = 0, s01 = 0;
    for (size_t i = 0; i < m; i++) s10 += (v10[i] - *auc) * (v10[i] - *auc);
    for (size_t j = 0; j < k; j++) s01 += (v01[j] - *auc) * (v01[j] - *auc);
    free(v10);
    free(v01);
    return s10 / (double)(m - 1) / (double)m + s01 / (double)(k - 1) / (double)k;
}

static void test_delong_brute(void **state)
{
    (void)state;
    float s[400];
    int y[400];
    pn_error err = {0};
    pn_auc_ci a;
    size_t n = hanley_mcneil(s, y);
    assert_int_equal(n, 109);
    assert_int_equal(pn_auc_delong(s, y, n, PN_Z95, &a, &err), PN_OK);
    CLOSE(a.auc, 0.893, 5e-4);
    double auc, var = brute_var(s, y, n, &auc);
    CLOSE(a.auc, auc, 1e-12);
    CLOSE(a.var, var, 1e-15);
    /* random sets with ties (scores on a grid of 20 values) */
    for (uint64_t seed = 1; seed <= 20; seed++) {
        n = 20 + 19 * seed;
        tu_fill_uniform(s, n, seed, 0, 1);
        for (size_t i = 0; i < n; i++) {
            y[i] = (s[i] + 0.3f * sinf((float)i * 1.7f)) > 0.55f;
            s[i] = floorf(s[i] * 20) / 20;
        }
        y[0] = 0, y[1] = 0, y[2] = 1, y[3] = 1;
        assert_int_equal(pn_auc_delong(s, y, n, PN_Z95, &a, &err), PN_OK);
        var = brute_var(s, y, n, &auc);
        CLOSE(a.auc, auc, 1e-12);
        CLOSE(a.var, var, 1e-14);
    }
}

/* ---- against tests/metrics_ref.py (scipy / numpy) ---- */

typedef struct { char k[64]; double v; } kv;

static int ref_run(const float *s, const float *b, const int *y, size_t n, double thr, int reps,
                   uint64_t seed, kv *out, int maxkv)
{
    char in[512], op[512], cmd[2048];
    const char *dir = tu_tmpdir();
    snprintf(in, sizeof in, "%s/in.txt", dir);
    snprintf(op, sizeof op, "%s/out.txt", dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fprintf(f, "%.17g %d %llu\n", thr, reps, (unsigned long long)seed);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%.9g %d", (double)s[i], y[i]);
        if (b) fprintf(f, " %.9g", (double)b[i]);
        fputc('\n', f);
    }
    fclose(f);
    const char *py = getenv("PYTHON") ? getenv("PYTHON") : "/usr/bin/python3";
    snprintf(cmd, sizeof cmd, "%s %s/tests/metrics_ref.py %s %s", py, tu_root(), in, op);
    assert_int_equal(system(cmd), 0);
    f = fopen(op, "r");
    assert_non_null(f);
    int k = 0;
    while (k < maxkv && fscanf(f, "%63s %lf", out[k].k, &out[k].v) == 2) k++;
    fclose(f);
    tu_rmtree(dir);
    return k;
}

static double ref(const kv *r, int n, const char *key)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(r[i].k, key)) return r[i].v;
    fail_msg("reference has no %s", key);
    return NAN;
}

static void same(double got, double want, double tol, const char *what)
{
    if (isnan(want) && isnan(got)) return;
    if (!(fabs(got - want) <= tol)) fail_msg("%s: %.17g vs reference %.17g", what, got, want);
}

static void test_against_reference(void **state)
{
    (void)state;
    enum { N = 150 };
    float s[N], b[N];
    int y[N];
    tu_fill_uniform(s, N, 7, 0, 1);
    tu_fill_uniform(b, N, 8, 0, 1);
    for (int i = 0; i < N; i++) {
        y[i] = s[i] + 0.4f * b[i] > 0.75f;
        b[i] = 0.5f * b[i] + 0.5f * (float)y[i] * s[i];
        if (i % 7 == 0) s[i] = 0.5f; /* ties, and at the threshold */
    }
    kv r[64];
    int nr = ref_run(s, b, y, N, 0.5, 300, 42, r, 64);
    pn_error err = {0};
    pn_metrics m;
    assert_int_equal(pn_metrics_compute(s, y, N, 0.5, &m, &err), PN_OK);
    same(m.accuracy_ci.lo, ref(r, nr, "accuracy_lo"), 1e-12, "accuracy lo");
    same(m.accuracy_ci.hi, ref(r, nr, "accuracy_hi"), 1e-12, "accuracy hi");
    same(m.sensitivity_ci.lo, ref(r, nr, "sensitivity_lo"), 1e-12, "sensitivity lo");
    same(m.sensitivity_ci.hi, ref(r, nr, "sensitivity_hi"), 1e-12, "sensitivity hi");
    same(m.specificity_ci.lo, ref(r, nr, "specificity_lo"), 1e-12, "specificity lo");
    same(m.specificity_ci.hi, ref(r, nr, "specificity_hi"), 1e-12, "specificity hi");
    same(m.ppv_ci.lo, ref(r, nr, "ppv_lo"), 1e-12, "ppv lo");
    same(m.ppv_ci.hi, ref(r, nr, "ppv_hi"), 1e-12, "ppv hi");
    same(m.npv_ci.lo, ref(r, nr, "npv_lo"), 1e-12, "npv lo");
    same(m.npv_ci.hi, ref(r, nr, "npv_hi"), 1e-12, "npv hi");
    same(m.auc, ref(r, nr, "auc"), 1e-12, "auc");
    same(m.auc_se, ref(r, nr, "auc_se"), 1e-12, "auc se");
    same(m.auc_ci.lo, ref(r, nr, "auc_lo"), 1e-12, "auc lo");
    same(m.auc_ci.hi, ref(r, nr, "auc_hi"), 1e-12, "auc hi");
    pn_delong_test t;
    assert_int_equal(pn_delong_paired(s, b, y, N, &t, &err), PN_OK);
    same(t.auc_b, ref(r, nr, "auc_b"), 1e-12, "auc b");
    same(t.diff, ref(r, nr, "diff"), 1e-12, "diff");
    same(t.cov, ref(r, nr, "cov"), 1e-14, "cov");
    same(t.se, ref(r, nr, "se_diff"), 1e-12, "se diff");
    same(t.z, ref(r, nr, "z"), 1e-9, "z");
    same(t.p, ref(r, nr, "p"), 1e-12, "p");
    assert_true(t.p < 0.05); /* b is built to separate better */
    pn_bootstrap bs;
    assert_int_equal(pn_bootstrap_metrics(s, y, N, 0.5, 300, 42, &bs, &err), PN_OK);
    static const char *const names[7] = {"accuracy", "sensitivity", "specificity", "ppv",
                                         "npv",      "f1",          "auc"};
    const pn_ci *c[7] = {&bs.accuracy, &bs.sensitivity, &bs.specificity, &bs.ppv,
                         &bs.npv,      &bs.f1,          &bs.auc};
    for (int k = 0; k < 7; k++) {
        char key[64];
        snprintf(key, sizeof key, "boot_%s_lo", names[k]);
        same(c[k]->lo, ref(r, nr, key), 1e-12, key);
        snprintf(key, sizeof key, "boot_%s_hi", names[k]);
        same(c[k]->hi, ref(r, nr, key), 1e-12, key);
        snprintf(key, sizeof key, "boot_%s_undef", names[k]);
        same(bs.undefined[k], ref(r, nr, key), 0, key);
        assert_true(c[k]->lo <= c[k]->hi);
    }
    /* the point estimate lies inside its bootstrap interval here */
    assert_true(bs.f1.lo < m.f1 && m.f1 < bs.f1.hi);
    /* seeded: the same seed gives the same interval, another seed another */
    pn_bootstrap b2;
    assert_int_equal(pn_bootstrap_metrics(s, y, N, 0.5, 300, 42, &b2, &err), PN_OK);
    assert_true(b2.f1.lo == bs.f1.lo && b2.auc.hi == bs.auc.hi);
    assert_int_equal(pn_bootstrap_metrics(s, y, N, 0.5, 300, 43, &b2, &err), PN_OK);
    assert_true(b2.f1.lo != bs.f1.lo || b2.f1.hi != bs.f1.hi);
}

/* calibration: by hand, and against the reference (numpy; scipy's bounded
 * minimize_scalar for the temperature) on an overconfident set */
static void test_calibration(void **state)
{
    (void)state;
    float p[] = {0.95f, 0.25f};
    int y[] = {1, 0};
    pn_error err = {0};
    pn_calibration c;
    assert_int_equal(pn_calibration_compute(p, y, 2, 10, &c, &err), PN_OK);
    /* Brier ((0.05)^2 + (0.25)^2) / 2; ECE 0.5 * 0.05 + 0.5 * 0.25 */
    CLOSE(c.brier, 0.0325, 1e-7);
    CLOSE(c.ece, 0.15, 1e-7);
    assert_int_equal(c.count[9], 1);
    assert_int_equal(c.count[2], 1);
    assert_true(isnan(c.observed[5]) && c.count[5] == 0);
    CLOSE(c.observed[9], 1.0, 0);
    float one[] = {1.0f};
    int y1[] = {1};
    assert_int_equal(pn_calibration_compute(one, y1, 1, 10, &c, &err), PN_OK);
    assert_int_equal(c.count[9], 1); /* 1.0 falls in the last bin */
    float badp[] = {1.5f};
    assert_int_equal(pn_calibration_compute(badp, y1, 1, 10, &c, &err), PN_E_ARG);

    /* overconfident: p = sigmoid(3 d) while y follows sigmoid(d) */
    enum { N = 400 };
    float s[N], u[N], probs[2 * N];
    int lab[N];
    tu_fill_uniform(s, N, 11, -3, 3);
    tu_fill_uniform(u, N, 12, 0, 1);
    for (int i = 0; i < N; i++) {
        double d = s[i];
        lab[i] = u[i] < 1 / (1 + exp(-d));
        s[i] = (float)(1 / (1 + exp(-3 * d)));
        probs[2 * i] = 1 - s[i];
        probs[2 * i + 1] = s[i];
    }
    kv r[64];
    int nr = ref_run(s, NULL, lab, N, 0.5, 0, 0, r, 64);
    assert_int_equal(pn_calibration_compute(s, lab, N, 10, &c, &err), PN_OK);
    same(c.brier, ref(r, nr, "brier"), 1e-12, "brier");
    same(c.ece, ref(r, nr, "ece"), 1e-12, "ece");
    double T, before, after;
    assert_int_equal(pn_fit_temperature(probs, lab, N, 2, &T, &before, &after, &err), PN_OK);
    same(T, ref(r, nr, "temperature"), 1e-6 * T, "temperature");
    same(before, ref(r, nr, "nll_before"), 1e-9, "nll at T = 1");
    same(after, ref(r, nr, "nll_after"), 1e-9, "nll at T");
    assert_true(T > 2 && T < 4.5 && after < before);
    /* applied: the calibrated probabilities have a lower Brier score here */
    pn_apply_temperature(probs, N, 2, T);
    CLOSE(probs[1], 1 / (1 + exp(-(log((double)s[0]) - log(1 - (double)s[0])) / T)), 1e-6);
    float q[N];
    for (int i = 0; i < N; i++) q[i] = probs[2 * i + 1];
    pn_calibration c2;
    assert_int_equal(pn_calibration_compute(q, lab, N, 10, &c2, &err), PN_OK);
    assert_true(c2.brier < c.brier && c2.ece < c.ece);
    /* one class: no temperature */
    int ones[N];
    for (int i = 0; i < N; i++) ones[i] = 1;
    assert_int_equal(pn_fit_temperature(probs, ones, N, 2, &T, NULL, NULL, &err), PN_E_ARG);
}

static void test_bootstrap_undefined(void **state)
{
    (void)state;
    /* one class: AUC and specificity undefined in every resample -> NaN
     * with the count; PPV undefined where nothing is predicted positive */
    float s[] = {0.9f, 0.7f, 0.2f, 0.1f};
    int y[] = {1, 1, 1, 1};
    pn_error err = {0};
    pn_bootstrap b;
    assert_int_equal(pn_bootstrap_metrics(s, y, 4, 0.5, 50, 1, &b, &err), PN_OK);
    assert_true(isnan(b.auc.lo) && isnan(b.auc.hi));
    assert_int_equal(b.undefined[6], 50);
    assert_int_equal(b.undefined[2], 50);
    assert_true(isfinite(b.sensitivity.lo));
    /* a threshold above every score: PPV undefined everywhere, F1 = 0 */
    assert_int_equal(pn_bootstrap_metrics(s, y, 4, 0.95, 50, 1, &b, &err), PN_OK);
    assert_int_equal(b.undefined[3], 50);
    assert_true(b.f1.lo == 0 && b.f1.hi == 0);
    assert_int_equal(pn_bootstrap_metrics(s, y, 4, 0.5, 0, 1, &b, &err), PN_E_ARG);
    assert_int_equal(pn_bootstrap_metrics(s, y, 0, 0.5, 10, 1, &b, &err), PN_E_ARG);
    /* the draws are mt19937's: numpy's legacy-seeded MT19937(5) starts 953453411 */
    pn_rng g;
    pn_rng_seed(&g, 5);
    assert_int_equal(pn_rng_u32(&g), 953453411u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_wilson_published), cmocka_unit_test(test_delong_hand),
        cmocka_unit_test(test_delong_undefined), cmocka_unit_test(test_delong_brute),
        cmocka_unit_test(test_against_reference), cmocka_unit_test(test_bootstrap_undefined),
        cmocka_unit_test(test_calibration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
