/* Intervals: Wilson against Newcombe's (1998) published values, scipy and
 * the quadratic Wilson (1927) defines; DeLong against hand-computed cases
 * (one paired, with ties), the data of DeLong et al.'s (1988) example,
 * Hanley & McNeil's (1982) rating table, an O(npos*nneg)
 * structural-components computation and the numpy reference
 * (tests/metrics_ref.py); the paired DeLong test and the seeded stratified
 * bootstrap against the same reference. */
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

/* Wilson EB, Probable inference, the law of succession, and statistical
 * inference, JASA 1927;22:209-212. Not checked against the paper's own
 * numbers: only its opening paragraph could be read here (the usual limits
 * p0 -/+ lambda sigma0 with sigma0 = sqrt(p0 q0 / n)), so whether it gives
 * worked numerical examples, and which, is not known to this test. What is
 * checked is the interval the paper defines: the p whose own standard
 * deviation puts p0 exactly lambda of them away, i.e. the two roots of
 *     n (p0 - p)^2 = lambda^2 p (1 - p),
 * and the consequences of that quadratic (derived here, not quoted):
 * centre (k + lambda^2/2) / (n + lambda^2) (with lambda = 2: (k + 2)/(n + 4),
 * the "plus four" centre), width 2 lambda sqrt(n p0 q0 + lambda^2/4) /
 * (n + lambda^2), and for p0 = 0 the limits 0 and lambda^2 / (n + lambda^2).
 * The residual of the quadratic is computed here from the endpoints alone,
 * independently of pn_wilson_ci's closed form. */
static void test_wilson_1927_definition(void **state)
{
    (void)state;
    static const size_t kn[][2] = {{0, 10}, {1, 10}, {5, 10}, {9, 10}, {10, 10}, {81, 263},
                                   {3, 7},  {0, 1},  {1, 1},  {17, 1000}};
    static const double lam[] = {1.0, PN_Z95, 2.0, 3.0};
    for (size_t i = 0; i < sizeof kn / sizeof kn[0]; i++)
        for (size_t l = 0; l < sizeof lam / sizeof lam[0]; l++) {
            const double k = (double)kn[i][0], n = (double)kn[i][1], L = lam[l], p0 = k / n;
            pn_ci c = pn_wilson_ci(kn[i][0], kn[i][1], L);
            const double e[2] = {c.lo, c.hi};
            for (int j = 0; j < 2; j++) { /* each limit is a root of the quadratic */
                double r = n * (p0 - e[j]) * (p0 - e[j]) - L * L * e[j] * (1 - e[j]);
                if (!(fabs(r) <= 1e-12 * (n + L * L)))
                    fail_msg("%zu/%zu lambda %g: limit %.17g leaves %.3g", kn[i][0], kn[i][1], L,
                             e[j], r);
            }
            assert_true(c.lo <= p0 && p0 <= c.hi);
            CLOSE((c.lo + c.hi) / 2, (k + L * L / 2) / (n + L * L), 1e-14);
            CLOSE(c.hi - c.lo, 2 * L * sqrt(n * p0 * (1 - p0) + L * L / 4) / (n + L * L), 1e-14);
            if (kn[i][0] == 0) {
                assert_true(c.lo == 0);
                CLOSE(c.hi, L * L / (n + L * L), 1e-15);
            }
        }
    /* lambda = 2, 3/7: by hand, centre (3 + 2)/(7 + 4) = 5/11, half-width
     * 2 sqrt(7 (3/7)(4/7) + 1) / 11 = 2 sqrt(19/7) / 11 */
    pn_ci c = pn_wilson_ci(3, 7, 2.0);
    CLOSE(c.lo, 5.0 / 11 - 2 * sqrt(19.0 / 7) / 11, 1e-15);
    CLOSE(c.hi, 5.0 / 11 + 2 * sqrt(19.0 / 7) / 11, 1e-15);
}

/* DeLong ER, DeLong DM, Clarke-Pearson DL, Comparing the areas under two or
 * more correlated receiver operating characteristic curves: a nonparametric
 * approach, Biometrics 1988;44:837-845. Its worked example (ovarian cancer
 * patients with intestinal obstruction: the K-G score, albumin and total
 * protein) could not be checked against the paper: its tables and reported
 * areas, variances and test statistics were not accessible here, so no
 * number of the paper's is asserted. Instead, by hand, the paper's
 * structural components on a tiny paired set with ties, 3 positives X and 2
 * negatives Y, psi(x, y) = [x > y] + [x == y] / 2:
 *   a: X = (0.8, 0.5, 0.3), Y = (0.5, 0.2)
 *      V10 = (1, 3/4, 1/2), V01 = (1/2, 1), AUC = 3/4
 *      S10 = ((1/4)^2 + 0 + (1/4)^2) / 2 = 1/16, S01 = (1/4)^2 + (1/4)^2 = 1/8
 *      var = S10/3 + S01/2 = 1/48 + 1/16 = 1/12
 *   b: X = (0.9, 0.4, 0.4), Y = (0.4, 0.1) (a tie across classes, and in X)
 *      V10 = (1, 3/4, 3/4), V01 = (2/3, 1), AUC = 5/6
 *      S10 = ((1/6)^2 + 2 (1/12)^2) / 2 = 1/48, S01 = 2 (1/6)^2 = 1/18
 *      var = 1/144 + 1/36 = 5/144
 *   paired (same patients): S10_ab = (1/4 * 1/6 + 0 + 1/4 * 1/12) / 2 = 1/32,
 *      S01_ab = 1/4 * 1/6 + 1/4 * 1/6 = 1/12, cov = 1/96 + 1/24 = 5/96
 *      var(a - b) = 1/12 + 5/144 - 2 * 5/96 = 1/72, diff = -1/12
 *      z = (-1/12) / sqrt(1/72) = -sqrt(2)/2, p = 2 (1 - Phi(sqrt(2)/2)) = erfc(1/2)
 * (these fractions re-derived with Python's fractions.Fraction while writing
 * this test; and below against tests/metrics_ref.py at run time). */
static void test_delong_1988_hand(void **state)
{
    (void)state;
    float a[] = {0.8f, 0.5f, 0.3f, 0.5f, 0.2f}, b[] = {0.9f, 0.4f, 0.4f, 0.4f, 0.1f};
    int y[] = {1, 1, 1, 0, 0};
    pn_error err = {0};
    pn_auc_ci ca, cb;
    assert_int_equal(pn_auc_delong(a, y, 5, PN_Z95, &ca, &err), PN_OK);
    assert_int_equal(pn_auc_delong(b, y, 5, PN_Z95, &cb, &err), PN_OK);
    CLOSE(ca.auc, 0.75, 1e-15);
    CLOSE(ca.var, 1.0 / 12, 1e-15);
    CLOSE(cb.auc, 5.0 / 6, 1e-15);
    CLOSE(cb.var, 5.0 / 144, 1e-15);
    CLOSE(ca.ci.lo, 0.75 - PN_Z95 * sqrt(1.0 / 12), 1e-12);
    assert_true(ca.ci.hi == 1.0); /* 0.75 + 1.96 * 0.2887 clipped */
    pn_delong_test t;
    assert_int_equal(pn_delong_paired(a, b, y, 5, &t, &err), PN_OK);
    CLOSE(t.auc_a, 0.75, 1e-15);
    CLOSE(t.auc_b, 5.0 / 6, 1e-15);
    CLOSE(t.diff, -1.0 / 12, 1e-15);
    CLOSE(t.var_a, 1.0 / 12, 1e-15);
    CLOSE(t.var_b, 5.0 / 144, 1e-15);
    CLOSE(t.cov, 5.0 / 96, 1e-15);
    CLOSE(t.se, sqrt(1.0 / 72), 1e-14);
    CLOSE(t.z, -sqrt(2.0) / 2, 1e-12);
    CLOSE(t.p, erfc(0.5), 1e-12);
    CLOSE(t.diff_ci.lo, -1.0 / 12 - PN_Z95 * sqrt(1.0 / 72), 1e-12);
    assert_int_equal(t.npos, 3);
    assert_int_equal(t.nneg, 2);
    /* the metrics' AUC interval is the same DeLong one */
    pn_metrics m;
    assert_int_equal(pn_metrics_compute(a, y, 5, 0.5, &m, &err), PN_OK);
    CLOSE(m.auc_se, sqrt(1.0 / 12), 1e-15);
    /* and the reference (numpy psi matrix, scipy's normal) agrees */
    kv r[64];
    int nr = ref_run(a, b, y, 5, 0.5, 0, 0, r, 64);
    same(t.cov, ref(r, nr, "cov"), 1e-15, "cov");
    same(t.z, ref(r, nr, "z"), 1e-12, "z");
    same(t.p, ref(r, nr, "p"), 1e-12, "p");
    same(ca.se, ref(r, nr, "auc_se"), 1e-15, "auc se");
}

/* The example data of DeLong et al. (1988) as the SAS/STAT documentation
 * distributes it (PROC LOGISTIC, "Comparing Receiver Operating
 * Characteristic Curves", which cites the paper): albumin, total protein
 * and the K-G score (10 - score, so that higher means popind = 1) of the 43
 * of its 49 patients with every test recorded ("the original data set
 * contains six more records with missing values", SAS). Neither the
 * paper's nor SAS's reported areas are asserted (not accessible here; the
 * paper's may also use all 49 patients); the check is pneumo's DeLong
 * areas, variances, covariances and paired z/p on this real, heavily tied
 * data against tests/metrics_ref.py's O(m n) psi-matrix computation (numpy)
 * and scipy's Mann-Whitney U, and against brute_var. */
static void test_delong_1988_data(void **state)
{
    (void)state;
    static const float d[43][4] = {
        {3.0f, 5.8f, 10, 0}, {3.2f, 6.3f, 5, 1}, {3.9f, 6.8f, 3, 1}, {2.8f, 4.8f, 6, 0},
        {3.2f, 5.8f, 3, 1},  {0.9f, 4.0f, 5, 0}, {2.5f, 5.7f, 8, 0}, {1.6f, 5.6f, 5, 1},
        {3.8f, 5.7f, 5, 1},  {3.7f, 6.7f, 6, 1}, {3.2f, 5.4f, 4, 1}, {3.8f, 6.6f, 6, 1},
        {4.1f, 6.6f, 5, 1},  {3.6f, 5.7f, 5, 1}, {4.3f, 7.0f, 4, 1}, {3.6f, 6.7f, 4, 0},
        {2.3f, 4.4f, 6, 1},  {4.2f, 7.6f, 4, 0}, {4.0f, 6.6f, 6, 0}, {3.5f, 5.8f, 6, 1},
        {3.8f, 6.8f, 7, 1},  {3.0f, 4.7f, 8, 0}, {4.5f, 7.4f, 5, 1}, {3.7f, 7.4f, 5, 1},
        {3.1f, 6.6f, 6, 1},  {4.1f, 8.2f, 6, 1}, {4.3f, 7.0f, 5, 1}, {4.3f, 6.5f, 4, 1},
        {3.2f, 5.1f, 5, 1},  {2.6f, 4.7f, 6, 1}, {3.3f, 6.8f, 6, 0}, {1.7f, 4.0f, 7, 0},
        {3.7f, 6.1f, 5, 1},  {3.3f, 6.3f, 7, 1}, {4.2f, 7.7f, 6, 1}, {3.5f, 6.2f, 5, 1},
        {2.9f, 5.7f, 9, 0},  {2.1f, 4.8f, 7, 1}, {2.8f, 6.2f, 8, 0}, {4.0f, 7.0f, 7, 1},
        {3.3f, 5.7f, 6, 1},  {3.7f, 6.9f, 5, 1}, {3.6f, 6.6f, 5, 1}};
    float alb[43], tp[43], kg[43];
    int y[43], npos = 0;
    for (int i = 0; i < 43; i++) {
        alb[i] = d[i][0], tp[i] = d[i][1], kg[i] = 10 - d[i][2];
        y[i] = (int)d[i][3];
        npos += y[i];
    }
    assert_int_equal(npos, 31); /* 31 popind = 1, 12 popind = 0 */
    const float *test[2] = {alb, tp};
    const char *name[2] = {"albumin", "total protein"};
    pn_error err = {0};
    for (int k = 0; k < 2; k++) {
        kv r[64];
        int nr = ref_run(test[k], kg, y, 43, 0.5, 0, 0, r, 64);
        pn_delong_test t;
        assert_int_equal(pn_delong_paired(test[k], kg, y, 43, &t, &err), PN_OK);
        same(t.auc_a, ref(r, nr, "auc"), 1e-12, name[k]);
        same(t.auc_b, ref(r, nr, "auc_b"), 1e-12, "K-G score auc");
        same(sqrt(t.var_a), ref(r, nr, "auc_se"), 1e-12, "se");
        same(t.cov, ref(r, nr, "cov"), 1e-14, "cov");
        same(t.se, ref(r, nr, "se_diff"), 1e-12, "se of the difference");
        same(t.z, ref(r, nr, "z"), 1e-10, "z");
        same(t.p, ref(r, nr, "p"), 1e-10, "p");
        double auc, var = brute_var(test[k], y, 43, &auc);
        CLOSE(t.auc_a, auc, 1e-12);
        CLOSE(t.var_a, var, 1e-15);
        var = brute_var(kg, y, 43, &auc);
        CLOSE(t.var_b, var, 1e-15);
        assert_true(t.auc_a > 0.6 && t.auc_b > 0.6 && t.p > 0.05 && t.p < 1);
    }
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
        cmocka_unit_test(test_calibration),    cmocka_unit_test(test_wilson_1927_definition),
        cmocka_unit_test(test_delong_1988_hand), cmocka_unit_test(test_delong_1988_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
