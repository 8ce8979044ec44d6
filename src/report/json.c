/* metrics.json and the per-split metric objects (cJSON; NaN -> null). */
#include <cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/report.h"
#include "pneumo/util.h"

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

static cJSON *metrics_obj(const pn_metrics *m, const char *const *class_names)
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
    return o;
}

char *pn_metrics_json_string(const pn_metrics *m, const char *const *class_names)
{
    cJSON *o = metrics_obj(m, class_names);
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
        cJSON_AddStringToObject(set, kv[0], kv[1]);
    cJSON_AddItemToObject(root, "settings", set);
    if (rep->class_weights) {
        cJSON *cw = cJSON_CreateArray();
        for (int c = 0; c < rep->classes; c++)
            cJSON_AddItemToArray(cw, num(rep->class_weights[c]));
        cJSON_AddItemToObject(root, "class_weights", cw);
    }
    cJSON_AddItemToObject(root, "threshold", num(rep->threshold));
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
    for (int s = 0; s < rep->nsplits; s++)
        cJSON_AddItemToObject(fin, rep->splits[s].name,
                              metrics_obj(&rep->splits[s].m, rep->class_names));
    /* an absent split (no val/, no test/) is null, not missing */
    static const char *const always[] = {"val", "test"};
    for (int k = 0; k < 2; k++)
        if (!cJSON_GetObjectItem(fin, always[k])) cJSON_AddNullToObject(fin, always[k]);
    cJSON_AddItemToObject(root, "final", fin);
    char *txt = cJSON_Print(root);
    cJSON_Delete(root);
    if (!txt) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    size_t len = strlen(txt);
    pn_status st = pn_write_file_atomic(path, txt, len, err);
    free(txt);
    return st;
}
