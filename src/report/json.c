/* metrics.json and the per-split metric objects (cJSON; NaN -> null). */
#include <cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/report.h"
#include "pneumo/util.h"
#include "report/internal.h"

pn_status pn_split_result_compute(pn_split_result *r, int classes, double threshold,
                                  pn_error *err)
{
    if (classes != 2)
        return pn_error_set(err, PN_E_UNSUPPORTED,
                            "metrics for split %s: clinical metrics need 2 classes, not %d",
                            r->name, classes);
    float *p1 = malloc((r->n ? r->n : 1) * sizeof *p1);
    if (!p1) return pn_error_set(err, PN_E_NOMEM, "metrics: out of memory");
    for (size_t i = 0; i < r->n; i++) p1[i] = r->probs[i * 2 + 1];
    pn_status st = pn_metrics_compute(p1, r->labels, r->n, threshold, &r->m, err);
    if (!st) st = pn_roc_curve(p1, r->labels, r->n, &r->roc, &r->nroc, err);
    if (!st) st = pn_calibration_compute(p1, r->labels, r->n, 10, &r->cal, err);
    free(p1);
    if (st) pn_error_prefix(err, "split %s: ", r->name);
    return st;
}

void pn_split_result_free(pn_split_result *r)
{
    free(r->roc);
    r->roc = NULL;
    r->nroc = 0;
}

static cJSON *num(double v) { return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateNull(); }

static cJSON *ci_arr(pn_ci c)
{
    if (!isfinite(c.lo) || !isfinite(c.hi)) return cJSON_CreateNull();
    cJSON *a = cJSON_CreateArray();
    cJSON_AddItemToArray(a, cJSON_CreateNumber(c.lo));
    cJSON_AddItemToArray(a, cJSON_CreateNumber(c.hi));
    return a;
}

static const char *const metric_keys[7] = {"accuracy", "sensitivity", "specificity", "ppv",
                                           "npv",      "f1",          "roc_auc"};

cJSON *pn__bootstrap_obj(const pn_bootstrap *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "resamples", b->reps);
    cJSON_AddNumberToObject(o, "seed", (double)b->seed);
    cJSON_AddStringToObject(o, "method",
                            "stratified percentile bootstrap (classes resampled separately, "
                            "2.5th-97.5th percentile of the resamples where the metric is "
                            "defined)");
    const pn_ci *c[7] = {&b->accuracy, &b->sensitivity, &b->specificity, &b->ppv,
                         &b->npv,      &b->f1,          &b->auc};
    cJSON *ci = cJSON_CreateObject(), *un = cJSON_CreateObject();
    for (int k = 0; k < 7; k++) {
        cJSON_AddItemToObject(ci, metric_keys[k], ci_arr(*c[k]));
        cJSON_AddNumberToObject(un, metric_keys[k], b->undefined[k]);
    }
    cJSON_AddItemToObject(o, "ci95", ci);
    cJSON_AddItemToObject(o, "undefined_resamples", un);
    return o;
}

cJSON *pn__metrics_obj(const pn_metrics *m, const char *const *class_names,
                       const pn_bootstrap *boot)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "n", cJSON_CreateNumber((double)m->n));
    cJSON_AddItemToObject(o, "threshold", num(m->threshold));
    cJSON_AddItemToObject(o, "accuracy", num(m->accuracy));
    cJSON_AddItemToObject(o, "sensitivity", num(m->sensitivity));
    cJSON_AddItemToObject(o, "specificity", num(m->specificity));
    cJSON_AddItemToObject(o, "ppv", num(m->ppv));
    cJSON_AddItemToObject(o, "npv", num(m->npv));
    cJSON_AddItemToObject(o, "f1", num(m->f1));
    cJSON_AddItemToObject(o, "roc_auc", num(m->auc));
    cJSON *cm = cJSON_CreateObject();
    cJSON_AddNumberToObject(cm, "tn", (double)m->tn);
    cJSON_AddNumberToObject(cm, "fp", (double)m->fp);
    cJSON_AddNumberToObject(cm, "fn", (double)m->fn);
    cJSON_AddNumberToObject(cm, "tp", (double)m->tp);
    if (class_names) {
        cJSON_AddStringToObject(cm, "negative", class_names[0]);
        cJSON_AddStringToObject(cm, "positive", class_names[1]);
    }
    cJSON_AddItemToObject(o, "confusion", cm);
    /* 95% intervals: [lo, hi], null where undefined */
    cJSON *ci = cJSON_CreateObject();
    cJSON_AddStringToObject(ci, "method",
                            "Wilson score interval (proportions); DeLong (ROC AUC, normal "
                            "interval clipped to [0, 1])");
    const pn_ci *c[6] = {&m->accuracy_ci, &m->sensitivity_ci, &m->specificity_ci,
                         &m->ppv_ci,      &m->npv_ci,         &m->auc_ci};
    for (int k = 0; k < 6; k++) cJSON_AddItemToObject(ci, metric_keys[k < 5 ? k : 6], ci_arr(*c[k]));
    cJSON_AddItemToObject(ci, "roc_auc_se", num(m->auc_se));
    cJSON_AddItemToObject(o, "ci95", ci);
    if (boot) cJSON_AddItemToObject(o, "bootstrap", pn__bootstrap_obj(boot));
    return o;
}

/* a setting's value as typed JSON: yes/no -> true/false, a plain decimal
 * number -> a number (paths, hashes and names stay strings) */
static cJSON *typed(const char *key, const char *v)
{
    static const char *const text_keys[] = {"data", "weights", "model", "model_b", "out", "split",
                                            "freeze", "balance", "command"};
    for (size_t i = 0; i < sizeof text_keys / sizeof text_keys[0]; i++)
        if (!strcmp(key, text_keys[i])) return cJSON_CreateString(v);
    if (!strcmp(v, "yes")) return cJSON_CreateTrue();
    if (!strcmp(v, "no")) return cJSON_CreateFalse();
    size_t n = strlen(v);
    int ok = n > 0 && n < 24;
    for (size_t i = 0; i < n && ok; i++) ok = strchr("0123456789.-+eE", v[i]) != NULL;
    if (ok && (isdigit((unsigned char)v[0]) || (v[0] == '-' && isdigit((unsigned char)v[1])))) {
        char *end;
        double d = strtod(v, &end);
        if (!*end && isfinite(d)) return cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(v);
}

static cJSON *audit_obj(const pn_audit *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "pneumo_version", a->version);
    cJSON_AddStringToObject(o, "date", a->date);
    cJSON_AddStringToObject(o, "host", a->host);
    cJSON_AddStringToObject(o, "command_line", a->command_line);
    if (a->weights_sha256[0]) cJSON_AddStringToObject(o, "weights_sha256", a->weights_sha256);
    else cJSON_AddNullToObject(o, "weights_sha256");
    if (a->weights_b_sha256[0]) cJSON_AddStringToObject(o, "weights_b_sha256", a->weights_b_sha256);
    if (a->data_manifest_sha256[0])
        cJSON_AddStringToObject(o, "data_manifest_sha256", a->data_manifest_sha256);
    else cJSON_AddNullToObject(o, "data_manifest_sha256");
    cJSON_AddStringToObject(o, "data_manifest_note",
                            "SHA-256 of one line per image, in the data set's order: "
                            "split TAB name TAB label TAB sha256(file bytes) LF");
    if (a->has_counts) {
        cJSON *cc = cJSON_CreateObject();
        for (int sp = 0; sp < PN_NUM_SPLITS; sp++) {
            cJSON *c = cJSON_CreateObject();
            for (int k = 0; k < a->counts.num_classes && k < PN_MAX_CLASSES; k++)
                cJSON_AddNumberToObject(c, a->counts.class_name[k] ? a->counts.class_name[k] : "?",
                                        (double)a->counts.count[sp][k]);
            cJSON_AddItemToObject(cc, pn_split_name((pn_split)sp), c);
        }
        cJSON_AddItemToObject(o, "class_counts", cc);
    }
    return o;
}

static cJSON *calibration_obj(const pn_calibration *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(o, "brier", num(c->brier));
    cJSON_AddItemToObject(o, "ece", num(c->ece));
    cJSON_AddStringToObject(o, "bins_note",
                            "equal-width bins of P(positive); observed = share of positives, "
                            "with its Wilson 95% interval; null in an empty bin");
    cJSON *a = cJSON_CreateArray();
    for (int b = 0; b < c->nbins; b++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "lo", (double)b / c->nbins);
        cJSON_AddNumberToObject(e, "hi", (double)(b + 1) / c->nbins);
        cJSON_AddNumberToObject(e, "n", (double)c->count[b]);
        cJSON_AddItemToObject(e, "mean_p", num(c->mean_p[b]));
        cJSON_AddItemToObject(e, "observed", num(c->observed[b]));
        cJSON_AddItemToObject(e, "observed_ci95", ci_arr(c->observed_ci[b]));
        cJSON_AddItemToArray(a, e);
    }
    cJSON_AddItemToObject(o, "bins", a);
    return o;
}

static cJSON *delong_obj(const pn_delong_test *t, const char *a, const char *b)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "method", "DeLong, DeLong & Clarke-Pearson (1988), paired, two-sided");
    cJSON_AddStringToObject(o, "model_a", a ? a : "A");
    cJSON_AddStringToObject(o, "model_b", b ? b : "B");
    cJSON_AddNumberToObject(o, "positives", (double)t->npos);
    cJSON_AddNumberToObject(o, "negatives", (double)t->nneg);
    cJSON_AddItemToObject(o, "roc_auc_a", num(t->auc_a));
    cJSON_AddItemToObject(o, "roc_auc_b", num(t->auc_b));
    cJSON_AddItemToObject(o, "difference", num(t->diff));
    cJSON_AddItemToObject(o, "difference_ci95", ci_arr(t->diff_ci));
    cJSON_AddItemToObject(o, "variance_a", num(t->var_a));
    cJSON_AddItemToObject(o, "variance_b", num(t->var_b));
    cJSON_AddItemToObject(o, "covariance", num(t->cov));
    cJSON_AddItemToObject(o, "se", num(t->se));
    cJSON_AddItemToObject(o, "z", num(t->z));
    cJSON_AddItemToObject(o, "p", num(t->p));
    return o;
}

char *pn_delong_json_string(const pn_delong_test *t, const char *a, const char *b)
{
    cJSON *o = delong_obj(t, a, b);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

char *pn_metrics_json_string(const pn_metrics *m, const char *const *class_names,
                             const pn_bootstrap *boot)
{
    cJSON *o = pn__metrics_obj(m, class_names, boot);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static cJSON *history_arr(const pn_epoch_stats *h, int n)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "epoch", h[i].epoch);
        cJSON_AddItemToObject(e, "train_loss", num(h[i].train_loss));
        cJSON_AddItemToObject(e, "train_acc", num(h[i].train_acc));
        cJSON_AddItemToObject(e, "val_loss", num(h[i].val_loss));
        cJSON_AddItemToObject(e, "val_acc", num(h[i].val_acc));
        cJSON_AddItemToObject(e, "seconds", num(h[i].seconds));
        cJSON_AddItemToObject(e, "lr", num(h[i].lr));
        cJSON_AddItemToObject(e, "val_auc", num(h[i].val_auc));
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

pn_status pn_write_metrics_json(const char *path, const pn_run_report *rep, pn_error *err)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "format_version", 1);
    cJSON_AddStringToObject(root, "note",
                            "null = undefined (0/0 ratio, or ROC AUC with one class only); "
                            "positive class = class 1; predicted positive when P >= threshold");
    cJSON *cls = cJSON_CreateArray();
    for (int c = 0; c < rep->classes; c++)
        cJSON_AddItemToArray(cls, cJSON_CreateString(rep->class_names[c]));
    cJSON_AddItemToObject(root, "classes", cls);
    cJSON *set = cJSON_CreateObject();
    for (const char *const *kv = rep->settings; kv && kv[0] && kv[1]; kv += 2)
        cJSON_AddItemToObject(set, kv[0], typed(kv[0], kv[1]));
    cJSON_AddItemToObject(root, "settings", set);
    if (rep->audit) cJSON_AddItemToObject(root, "audit", audit_obj(rep->audit));
    if (rep->class_weights) {
        cJSON *cw = cJSON_CreateArray();
        for (int c = 0; c < rep->classes; c++)
            cJSON_AddItemToArray(cw, num(rep->class_weights[c]));
        cJSON_AddItemToObject(root, "class_weights", cw);
    }
    cJSON_AddItemToObject(root, "threshold", num(rep->threshold));
    cJSON_AddItemToObject(root, "temperature",
                          num(rep->temperature > 0 ? rep->temperature : 1)); /* 1 = none */
    cJSON_AddStringToObject(root, "threshold_source",
                            rep->threshold_source ? rep->threshold_source : "default");
    cJSON_AddItemToObject(root, "history", history_arr(rep->hist, rep->nhist));
    if (rep->selected_epoch > 0) {
        cJSON *sel = cJSON_CreateObject();
        cJSON_AddNumberToObject(sel, "epoch", rep->selected_epoch);
        cJSON_AddStringToObject(sel, "why", rep->selection ? rep->selection : "");
        cJSON_AddItemToObject(root, "selected", sel);
    }
    cJSON *fin = cJSON_CreateObject();
    for (int s = 0; s < rep->nsplits; s++) {
        const pn_split_result *r = &rep->splits[s];
        cJSON *o = pn__metrics_obj(&r->m, rep->class_names, r->boot);
        cJSON_AddItemToObject(o, "calibration", calibration_obj(&r->cal));
        cJSON_AddBoolToObject(o, "chose_threshold", r->chose_threshold);
        if (r->chose_threshold)
            cJSON_AddStringToObject(o, "caution", PN_CHOSE_THRESHOLD_NOTE);
        cJSON_AddItemToObject(fin, r->name, o);
    }
    /* an absent split (no val/, no test/) is null, not missing */
    static const char *const always[] = {"val", "test"};
    for (int k = 0; k < 2 && !rep->title; k++) /* a training run's */
        if (!cJSON_GetObjectItem(fin, always[k])) cJSON_AddNullToObject(fin, always[k]);
    cJSON_AddItemToObject(root, "final", fin);
    if (rep->compare)
        cJSON_AddItemToObject(root, "comparison",
                              delong_obj(rep->compare, rep->compare_a, rep->compare_b));
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    size_t len = strlen(txt);
    pn_status st = pn_write_file_atomic(path, txt, len, err);
    free(txt);
    return st;
}
