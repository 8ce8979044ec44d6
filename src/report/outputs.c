/* Every output of a run (train, or eval --out) into one folder. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pneumo/report.h"
#include "pneumo/util.h"

pn_status pn_write_run_outputs(const char *dir, const pn_run_report *rep, pn_error *err)
{
    char p[4096];
    pn_status st = pn_path_join(p, sizeof p, dir, "metrics.json", err);
    if (!st) st = pn_write_metrics_json(p, rep, err);
    if (!st) st = pn_path_join(p, sizeof p, dir, "predictions.csv", err);
    if (!st) st = pn_write_predictions_csv(p, rep, err);
    int saved = !st; /* the numbers are on disk: say so if a chart fails */
    if (!st && rep->nhist) st = pn_path_join(p, sizeof p, dir, "curves.png", err);
    if (!st && rep->nhist) st = pn_plot_curves(p, rep->hist, rep->nhist, err);
    if (!st && rep->nsplits && rep->classes == 2) {
        const pn_split_result *r = &rep->splits[rep->nsplits - 1]; /* test when present */
        char title[96];
        snprintf(title, sizeof title, "%s%s", r->name, r->chose_threshold ? " (chose the threshold)" : "");
        st = pn_path_join(p, sizeof p, dir, "confusion.png", err);
        if (!st) st = pn_plot_confusion(p, &r->m, rep->class_names, title, err);
        if (!st) st = pn_path_join(p, sizeof p, dir, "roc.png", err);
        if (!st && rep->compare && rep->nsplits == 2)
            st = pn_plot_roc_pair(p, &rep->splits[0], &rep->splits[1], rep->compare, NULL, err);
        else if (!st)
            st = pn_plot_roc_op(p, r->roc, r->nroc, r->m.auc, &r->m, title, err);
        if (!st) st = pn_path_join(p, sizeof p, dir, "calibration.png", err);
        if (!st) st = pn_plot_calibration(p, &r->cal, rep->class_names[1], title, err);
    }
    if (!st && rep->audit && rep->audit->has_counts) {
        st = pn_path_join(p, sizeof p, dir, "classes.png", err);
        if (!st) st = pn_dataset_stats_chart(&rep->audit->counts, "Images per split and class, as used", p, err);
    }
    if (!st) st = pn_path_join(p, sizeof p, dir, "report.html", err);
    if (!st) st = pn_write_report_html(p, rep, dir, err);
    if (st && saved && err) {
        size_t len = strlen(err->msg);
        char m[4096];
        int model = !pn_path_join(m, sizeof m, dir, "model.safetensors", NULL) && access(m, F_OK) == 0;
        snprintf(err->msg + len, sizeof err->msg - len, " (%smetrics.json and predictions.csv in %s are saved)",
                 model ? "the model, " : "", dir);
    }
    return st;
}
