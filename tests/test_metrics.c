/* Metrics: hand-computed confusion matrices, AUC with ties, one-class and
 * degenerate cases, ROC points, Youden's J; AUC against an O(n^2) pair count. */
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/eval.h"

static void test_hand_case(void **state)
{
    (void)state;
    /* scores 0.1 0.4 0.35 0.8, labels 0 0 1 1: the classic AUC 0.75 example */
    float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
    int y[] = {0, 0, 1, 1};
    pn_metrics m;
    pn_error err = {0};
    assert_int_equal(pn_metrics_compute(s, y, 4, 0.5, &m, &err), PN_OK);
    assert_int_equal(m.tp, 1);
    assert_int_equal(m.fn, 1);
    assert_int_equal(m.tn, 2);
    assert_int_equal(m.fp, 0);
    assert_true(fabs(m.accuracy - 0.75) < 1e-12);
    assert_true(fabs(m.sensitivity - 0.5) < 1e-12);
    assert_true(fabs(m.specificity - 1.0) < 1e-12);
    assert_true(fabs(m.ppv - 1.0) < 1e-12);
    assert_true(fabs(m.npv - 2.0 / 3.0) < 1e-12);
    assert_true(fabs(m.f1 - 2.0 / 3.0) < 1e-12);
    assert_true(fabs(m.auc - 0.75) < 1e-12);
    /* threshold is inclusive: p >= T is positive */
    assert_int_equal(pn_metrics_compute(s, y, 4, (double)0.35f, &m, &err), PN_OK);
    assert_int_equal(m.tp, 2);
    assert_int_equal(m.fp, 1);
}

static void test_auc_ties(void **state)
{
    (void)state;
    float s1[] = {0.5f, 0.5f, 0.5f, 0.5f};
    int y1[] = {0, 1, 0, 1};
    assert_true(fabs(pn_roc_auc(s1, y1, 4) - 0.5) < 1e-12);
    /* pos {0.5, 0.9} vs neg {0.2, 0.5}: 1 + 0.5 + 1 + 1 = 3.5 of 4 pairs */
    float s2[] = {0.2f, 0.5f, 0.5f, 0.9f};
    int y2[] = {0, 0, 1, 1};
    assert_true(fabs(pn_roc_auc(s2, y2, 4) - 0.875) < 1e-12);
    /* perfect and inverted */
    float s3[] = {0.1f, 0.2f, 0.8f, 0.9f};
    int y3[] = {0, 0, 1, 1}, y4[] = {1, 1, 0, 0};
    assert_true(pn_roc_auc(s3, y3, 4) == 1.0);
    assert_true(pn_roc_auc(s3, y4, 4) == 0.0);
}

static void test_one_class(void **state)
{
    (void)state;
    float s[] = {0.9f, 0.7f, 0.2f};
    int y[] = {1, 1, 1};
    pn_metrics m;
    pn_error err = {0};
    assert_int_equal(pn_metrics_compute(s, y, 3, 0.5, &m, &err), PN_OK);
    assert_true(isnan(m.auc));
    assert_true(isnan(m.specificity)); /* no negatives: 0/0 */
    assert_true(fabs(m.npv - 0.0) < 1e-12); /* one predicted negative, a false one */
    assert_true(fabs(m.sensitivity - 2.0 / 3.0) < 1e-12);
    /* nothing predicted positive: PPV is 0/0 */
    assert_int_equal(pn_metrics_compute(s, y, 3, 0.95, &m, &err), PN_OK);
    assert_true(isnan(m.ppv));
    assert_true(fabs(m.f1 - 0.0) < 1e-12);
    double thr;
    assert_int_equal(pn_youden_threshold(s, y, 3, &thr, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "both classes"));
}

static void test_bad_input(void **state)
{
    (void)state;
    float s[] = {0.5f, NAN};
    int y[] = {0, 1}, bad[] = {0, 2};
    pn_metrics m;
    pn_error err = {0};
    assert_int_equal(pn_metrics_compute(s, y, 0, 0.5, &m, &err), PN_E_ARG);
    assert_int_equal(pn_metrics_compute(s, bad, 1 + 1, 0.5, &m, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "label 2"));
    assert_int_equal(pn_metrics_compute(s, y, 2, 0.5, &m, &err), PN_E_NUMERIC);
}

static void test_roc_youden(void **state)
{
    (void)state;
    float s[] = {0.1f, 0.4f, 0.35f, 0.8f};
    int y[] = {0, 0, 1, 1};
    pn_roc_point *p;
    size_t np;
    pn_error err = {0};
    assert_int_equal(pn_roc_curve(s, y, 4, &p, &np, &err), PN_OK);
    assert_int_equal(np, 5);
    double want[5][2] = {{0, 0}, {0, 0.5}, {0.5, 0.5}, {0.5, 1}, {1, 1}};
    float thr[5] = {INFINITY, 0.8f, 0.4f, 0.35f, 0.1f};
    double area = 0;
    for (size_t i = 0; i < np; i++) {
        assert_true(fabs(p[i].fpr - want[i][0]) < 1e-12);
        assert_true(fabs(p[i].tpr - want[i][1]) < 1e-12);
        assert_true(p[i].threshold == thr[i]);
        if (i) area += (p[i].fpr - p[i - 1].fpr) * (p[i].tpr + p[i - 1].tpr) / 2;
    }
    assert_true(fabs(area - 0.75) < 1e-12);
    free(p);
    double t, j;
    assert_int_equal(pn_youden_threshold(s, y, 4, &t, &j, &err), PN_OK);
    assert_true(t == 0.8f); /* J = 0.5 at 0.8 and at 0.35: the higher wins */
    assert_true(fabs(j - 0.5) < 1e-12);
}

/* AUC against the definition: P(s_pos > s_neg) + 0.5 P(equal), and against
 * the trapezoid area under pn_roc_curve, on random scores with many ties. */
static void test_auc_random(void **state)
{
    (void)state;
    enum { N = 500 };
    float s[N], u[N];
    int y[N];
    tu_fill_uniform(u, N, 42, 0, 1);
    tu_fill_uniform(s, N, 7, 0, 1);
    for (int i = 0; i < N; i++) {
        y[i] = u[i] < 0.3f ? 0 : 1;
        s[i] = floorf(s[i] * 20) / 20 + (y[i] ? 0.1f : 0); /* 20 levels: ties */
    }
    double num = 0, den = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++)
            if (y[i] == 1 && y[k] == 0) {
                den++;
                num += s[i] > s[k] ? 1 : s[i] == s[k] ? 0.5 : 0;
            }
    double auc = pn_roc_auc(s, y, N);
    assert_true(fabs(auc - num / den) < 1e-12);
    pn_roc_point *p;
    size_t np;
    pn_error err = {0};
    assert_int_equal(pn_roc_curve(s, y, N, &p, &np, &err), PN_OK);
    double area = 0;
    for (size_t i = 1; i < np; i++) area += (p[i].fpr - p[i - 1].fpr) * (p[i].tpr + p[i - 1].tpr) / 2;
    free(p);
    assert_true(fabs(area - auc) < 1e-12);
}

/* operating points on a constructed set: from the top, tp/fp at each
 * threshold 0.9:1/0 0.8:2/0 0.7:3/0 0.6:3/1 0.5:4/1 0.4:4/2 0.3:5/2 0.2:5/3 0.1:5/4 */
static void test_operating_points(void **state)
{
    (void)state;
    float s[] = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f};
    int y[] = {0, 0, 1, 0, 1, 0, 1, 1, 1};
    static const struct { const char *rule; float thr; double got; } t[] = {
        {"sens=0.8", 0.5f, 0.8},  {"sens=0.95", 0.3f, 1.0}, {"spec=0.75", 0.5f, 0.75},
        {"spec=1", 0.7f, 1.0},    {"ppv=0.8", 0.5f, 0.8},   {"ppv=1.0", 0.7f, 1.0},
        {"sens=0.2", 0.9f, 0.2}};
    pn_error err = {0};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        pn_op_rule r;
        double thr = -1, got = -1;
        assert_int_equal(pn_op_rule_parse(t[i].rule, &r, &err), PN_OK);
        assert_int_equal(pn_op_threshold(s, y, 9, &r, &thr, &got, &err), PN_OK);
        if (thr != (double)t[i].thr || fabs(got - t[i].got) > 1e-12)
            fail_msg("%s: threshold %g (want %g), reached %g (want %g)", t[i].rule, thr,
                     (double)t[i].thr, got, t[i].got);
        /* the metrics at the chosen threshold do reach the target */
        pn_metrics m;
        assert_int_equal(pn_metrics_compute(s, y, 9, thr, &m, &err), PN_OK);
        double v = r.kind == PN_OP_SENS ? m.sensitivity : r.kind == PN_OP_SPEC ? m.specificity : m.ppv;
        assert_true(v >= r.target);
    }
    /* auto = Youden's J, the same as pn_youden_threshold */
    pn_op_rule r;
    double a, b, ja, jb;
    assert_int_equal(pn_op_rule_parse("auto", &r, &err), PN_OK);
    assert_int_equal(r.kind, PN_OP_YOUDEN);
    assert_int_equal(pn_op_threshold(s, y, 9, &r, &a, &ja, &err), PN_OK);
    assert_int_equal(pn_youden_threshold(s, y, 9, &b, &jb, &err), PN_OK);
    assert_true(a == b && ja == jb);
    /* unreachable: the top score is a negative, so specificity 1 (and PPV 0.9)
     * only by calling nothing positive: a plain sentence, no threshold */
    float s2[] = {0.9f, 0.8f, 0.1f};
    int y2[] = {0, 1, 0};
    assert_int_equal(pn_op_rule_parse("spec=1", &r, &err), PN_OK);
    assert_int_equal(pn_op_threshold(s2, y2, 3, &r, &a, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "no threshold"));
    assert_non_null(strstr(err.msg, "specificity >= 1"));
    assert_int_equal(pn_op_rule_parse("ppv=0.9", &r, &err), PN_OK);
    assert_int_equal(pn_op_threshold(s2, y2, 3, &r, &a, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "0.5000")); /* the best PPV reachable */
    /* one class: undefined */
    int y3[] = {1, 1, 1};
    assert_int_equal(pn_op_rule_parse("sens=0.9", &r, &err), PN_OK);
    assert_int_equal(pn_op_threshold(s2, y3, 3, &r, &a, NULL, &err), PN_E_ARG);
    assert_non_null(strstr(err.msg, "both classes"));
    /* bad rules */
    assert_int_equal(pn_op_rule_parse("sens=1.5", &r, &err), PN_E_ARG);
    assert_int_equal(pn_op_rule_parse("sens=", &r, &err), PN_E_ARG);
    assert_int_equal(pn_op_rule_parse("npv=0.9", &r, &err), PN_E_ARG);
    assert_int_equal(pn_op_rule_parse("spec=0", &r, &err), PN_E_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_case),  cmocka_unit_test(test_auc_ties),
        cmocka_unit_test(test_one_class),  cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_roc_youden), cmocka_unit_test(test_auc_random),
        cmocka_unit_test(test_operating_points),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
