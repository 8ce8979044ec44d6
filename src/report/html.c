/* report.html: one self-contained page; PNGs embedded as base64 data URIs
 * (pn_base64: libcrypto's encoder). */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo/report.h"
#include "pneumo/util.h"
#include "report/internal.h"

static void html_text(FILE *f, const char *s)
{
    for (; *s; s++) switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
}

static void cell(FILE *f, double v, int pct)
{
    if (!isfinite(v)) fputs("<td class=na>n/a</td>", f);
    else if (pct) fprintf(f, "<td>%.1f%%</td>", 100 * v);
    else fprintf(f, "<td>%.4f</td>", v);
}

/* a value with its 95% interval under it */
static void cell_ci(FILE *f, double v, pn_ci c, int pct)
{
    if (!isfinite(v)) {
        fputs("<td class=na>n/a</td>", f);
        return;
    }
    double k = pct ? 100 : 1;
    const char *u = pct ? "%" : "";
    fprintf(f, pct ? "<td>%.1f%%" : "<td>%.4f", k * v);
    if (isfinite(c.lo) && isfinite(c.hi))
        fprintf(f, pct ? "<br><small>%.1f&ndash;%.1f%s</small></td>" : "<br><small>%.3f&ndash;%.3f%s</small></td>",
                k * c.lo, k * c.hi, u);
    else fputs("<br><small class=na>no CI</small></td>", f);
}

static void image(FILE *f, const char *dir, const char *name, const char *alt)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    uint8_t *buf;
    size_t n;
    if (pn_read_file(p, (size_t)1 << 26, &buf, &n, NULL)) {
        fprintf(f, "<p class=na>(%s not available)</p>\n", name);
        return;
    }
    char *b64 = pn_base64(buf, n);
    free(buf);
    if (!b64) return;
    fprintf(f, "<figure><img alt=\"%s\" src=\"data:image/png;base64,%s\"><figcaption>%s</figcaption></figure>\n",
            alt, b64, name);
    free(b64);
}

pn_status pn_write_report_html(const char *path, const pn_run_report *rep, const char *png_dir,
                               pn_error *err)
{
    pn_afile af;
    pn_status st = pn_afile_open(&af, path, err);
    if (st) return st;
    FILE *f = af.f;
    fputs("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
          "<title>", f);
    html_text(f, rep->title ? rep->title : "pneumo training report");
    fputs("</title>\n<style>\n"
          "body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}\n"
          "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
          "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\n"
          "th{background:#f0f3f8}td.k{text-align:left}.na{color:#999}\n"
          "figure{display:inline-block;margin:0 1em 1em 0}img{max-width:100%;border:1px solid #ddd}\n"
          ".caution{color:#a40}small{color:#555}\n"
          "</style></head><body>\n<h1>", f);
    html_text(f, rep->title ? rep->title : "pneumo training report");
    fputs("</h1>\n", f);
    if (rep->audit) {
        const pn_audit *a = rep->audit;
        fputs("<h2>Audit trail</h2>\n<table id=audit>\n", f);
        const char *rows[][2] = {{"pneumo version", a->version},
                                 {"date (UTC)", a->date},
                                 {"host", a->host},
                                 {"command line", a->command_line},
                                 {"SHA-256 of the weights", a->weights_sha256[0] ? a->weights_sha256 : "unknown"},
                                 {"SHA-256 of the second model", a->weights_b_sha256},
                                 {"SHA-256 of the data manifest",
                                  a->data_manifest_sha256[0] ? a->data_manifest_sha256 : "unknown"}};
        for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
            if (!rows[i][1][0]) continue;
            fputs("<tr><td class=k>", f);
            html_text(f, rows[i][0]);
            fputs(i >= 3 ? "</td><td class=k><code>" : "</td><td class=k>", f);
            html_text(f, rows[i][1]);
            fputs(i >= 3 ? "</code></td></tr>\n" : "</td></tr>\n", f);
        }
        fputs("</table>\n<p><small>Data manifest: one line per image in the data set's order, "
              "split, name, label and the SHA-256 of the file's bytes.</small></p>\n", f);
        if (a->has_counts) {
            fputs("<h3>Images per split and class</h3>\n<table id=class_counts>\n<tr><th>split</th>", f);
            for (int k = 0; k < a->counts.num_classes; k++) {
                fputs("<th>", f);
                html_text(f, a->counts.class_name[k] ? a->counts.class_name[k] : "?");
                fputs("</th>", f);
            }
            fputs("<th>total</th></tr>\n", f);
            for (int sp = 0; sp < PN_NUM_SPLITS; sp++) {
                fprintf(f, "<tr><td class=k>%s</td>", pn_split_name((pn_split)sp));
                size_t tot = 0;
                for (int k = 0; k < a->counts.num_classes; k++) {
                    fprintf(f, "<td>%zu</td>", a->counts.count[sp][k]);
                    tot += a->counts.count[sp][k];
                }
                fprintf(f, "<td>%zu</td></tr>\n", tot);
            }
            fputs("</table>\n", f);
            image(f, png_dir, "classes.png", "images per split and class");
        }
    }
    fputs("<h2>Settings</h2>\n<table>\n", f);
    for (const char *const *kv = rep->settings; kv && kv[0] && kv[1]; kv += 2) {
        fputs("<tr><td class=k>", f);
        html_text(f, kv[0]);
        fputs("</td><td class=k>", f);
        html_text(f, kv[1]);
        fputs("</td></tr>\n", f);
    }
    fprintf(f, "<tr><td class=k>threshold on P(%s)</td><td class=k>%.4f (",
            rep->class_names[rep->classes - 1], rep->threshold);
    html_text(f, rep->threshold_source ? rep->threshold_source : "default");
    fputs(")</td></tr>\n", f);
    if (rep->class_weights) {
        fputs("<tr><td class=k>class weights</td><td class=k>", f);
        for (int c = 0; c < rep->classes; c++) {
            html_text(f, rep->class_names[c]);
            fprintf(f, " %.4f%s", rep->class_weights[c], c + 1 < rep->classes ? ", " : "");
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
    if (rep->nhist) fputs("<h2>Training history</h2>\n<table>\n<tr><th>epoch</th><th>train loss</th>"
          "<th>train acc</th><th>val loss</th><th>val acc</th><th>lr</th><th>seconds</th></tr>\n", f);
    for (int i = 0; i < rep->nhist; i++) {
        const pn_epoch_stats *h = &rep->hist[i];
        fprintf(f, "<tr><td>%d</td>", h->epoch);
        cell(f, h->train_loss, 0);
        cell(f, h->train_acc, 1);
        cell(f, h->val_loss, 0);
        cell(f, h->val_acc, 1);
        fprintf(f, "<td>%.3g</td><td>%.2f</td></tr>\n", h->lr, h->seconds);
    }
    if (rep->nhist) {
        fputs("</table>\n", f);
        if (rep->selected_epoch > 0) {
            fputs("<p>Saved model: ", f);
            if (rep->selection) html_text(f, rep->selection);
            else fprintf(f, "epoch %d", rep->selected_epoch);
            fputs(".</p>\n", f);
        }
        image(f, png_dir, "curves.png", "loss and accuracy per epoch");
    }
    fputs("<h2>Final metrics</h2>\n<p>Positive class: ", f);
    html_text(f, rep->class_names[rep->classes - 1]);
    fputs(". Under each value its 95% confidence interval: Wilson's score interval for the "
          "proportions, DeLong's for the ROC AUC. n/a = undefined (0/0, or ROC AUC with one "
          "class only).</p>\n<table id=metrics>\n<tr><th>split"
          "</th><th>n</th><th>accuracy</th><th>sensitivity</th><th>specificity</th><th>PPV</th>"
          "<th>NPV</th><th>F1</th><th>ROC AUC</th><th>TN</th><th>FP</th><th>FN</th><th>TP</th>"
          "</tr>\n", f);
    int any_boot = 0;
    for (int s = 0; s < rep->nsplits; s++) {
        const pn_split_result *r = &rep->splits[s];
        const pn_metrics *m = &r->m;
        any_boot |= r->boot != NULL;
        fputs("<tr><td class=k>", f);
        html_text(f, r->name);
        if (r->chose_threshold) fputs(" <b>*</b>", f);
        fprintf(f, "</td><td>%zu</td>", m->n);
        cell_ci(f, m->accuracy, m->accuracy_ci, 1);
        cell_ci(f, m->sensitivity, m->sensitivity_ci, 1);
        cell_ci(f, m->specificity, m->specificity_ci, 1);
        cell_ci(f, m->ppv, m->ppv_ci, 1);
        cell_ci(f, m->npv, m->npv_ci, 1);
        cell(f, m->f1, 0);
        cell_ci(f, m->auc, m->auc_ci, 0);
        fprintf(f, "<td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td></tr>\n", m->tn, m->fp, m->fn,
                m->tp);
    }
    static const char *const always[] = {"val", "test"};
    for (int k = 0; k < 2 && !rep->title; k++) {
        int found = 0;
        for (int s = 0; s < rep->nsplits; s++) found |= !strcmp(rep->splits[s].name, always[k]);
        if (!found)
            fprintf(f, "<tr><td class=k>%s</td><td class=na colspan=12 style=\"text-align:left\">"
                       "no %s split</td></tr>\n",
                    always[k], k ? "test" : "validation");
    }
    fputs("</table>\n", f);
    for (int s = 0; s < rep->nsplits; s++) {
        const pn_split_result *r = &rep->splits[s];
        const pn_metrics *m = &r->m;
        if (r->chose_threshold) {
            fputs("<p class=caution><b>*</b> ", f);
            html_text(f, r->name);
            fputs(": " PN_CHOSE_THRESHOLD_NOTE ".</p>\n", f);
        }
        if (m->n && !isfinite(m->auc)) {
            fputs("<p>", f);
            html_text(f, r->name);
            fprintf(f, ": the ROC AUC is undefined: the split has only %s images.</p>\n",
                    m->tp + m->fn ? "positive" : "negative");
        } else if (m->n && !isfinite(m->auc_se)) {
            fputs("<p>", f);
            html_text(f, r->name);
            fputs(": no DeLong interval for the ROC AUC (it needs at least two images of each "
                  "class).</p>\n", f);
        }
    }
    fputs("<h3>Calibration</h3>\n<table id=calibration>\n<tr><th>split</th><th>Brier score</th>"
          "<th>ECE (10 bins)</th></tr>\n", f);
    for (int s = 0; s < rep->nsplits; s++) {
        fputs("<tr><td class=k>", f);
        html_text(f, rep->splits[s].name);
        fputs("</td>", f);
        cell(f, rep->splits[s].cal.brier, 0);
        cell(f, rep->splits[s].cal.ece, 0);
        fputs("</tr>\n", f);
    }
    fputs("</table>\n", f);
    if (rep->temperature > 0 && rep->temperature != 1)
        fprintf(f, "<p>The probabilities are temperature-scaled: softmax(logits / %.4f), T fitted "
                   "on the validation split (stored in the model).</p>\n", rep->temperature);
    if (any_boot) {
        fputs("<h3>Bootstrap intervals</h3>\n<table id=bootstrap>\n<tr><th>split</th>"
              "<th>resamples</th><th>seed</th><th>accuracy</th><th>sensitivity</th>"
              "<th>specificity</th><th>PPV</th><th>NPV</th><th>F1</th><th>ROC AUC</th></tr>\n", f);
        for (int s = 0; s < rep->nsplits; s++) {
            const pn_bootstrap *b = rep->splits[s].boot;
            if (!b) continue;
            fputs("<tr><td class=k>", f);
            html_text(f, rep->splits[s].name);
            fprintf(f, "</td><td>%d</td><td>%llu</td>", b->reps, (unsigned long long)b->seed);
            const pn_ci *c[7] = {&b->accuracy, &b->sensitivity, &b->specificity, &b->ppv,
                                 &b->npv,      &b->f1,          &b->auc};
            for (int k = 0; k < 7; k++) {
                int pct = k < 5;
                if (!isfinite(c[k]->lo)) fputs("<td class=na>undefined</td>", f);
                else fprintf(f, pct ? "<td>%.1f&ndash;%.1f%%" : "<td>%.3f&ndash;%.3f",
                             (pct ? 100 : 1) * c[k]->lo, (pct ? 100 : 1) * c[k]->hi);
                if (isfinite(c[k]->lo) && b->undefined[k])
                    fprintf(f, "<br><small>undefined in %d</small></td>", b->undefined[k]);
                else if (isfinite(c[k]->lo)) fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n<p>Stratified percentile bootstrap: each resample draws the "
              "positives from the positives and the negatives from the negatives; the interval "
              "is the 2.5th to 97.5th percentile of the resamples where the metric is "
              "defined.</p>\n", f);
    }
    if (rep->compare) {
        const pn_delong_test *t = rep->compare;
        fputs("<h2>Model comparison</h2>\n<table id=comparison>\n<tr><th>model</th><th>ROC AUC"
              "</th></tr>\n<tr><td class=k>A: ", f);
        html_text(f, rep->compare_a ? rep->compare_a : "A");
        fputs("</td>", f);
        cell(f, t->auc_a, 0);
        fputs("</tr>\n<tr><td class=k>B: ", f);
        html_text(f, rep->compare_b ? rep->compare_b : "B");
        fputs("</td>", f);
        cell(f, t->auc_b, 0);
        fputs("</tr>\n</table>\n<p>", f);
        if (isfinite(t->p))
            fprintf(f, "Difference A &minus; B: %.4f (95%% CI %.4f to %.4f); DeLong's paired "
                       "test: z = %.3f, two-sided p = %.4g (%zu positive, %zu negative images).",
                    t->diff, t->diff_ci.lo, t->diff_ci.hi, t->z, t->p, t->npos, t->nneg);
        else
            fprintf(f, "DeLong's paired test is undefined on this set: it needs at least two "
                       "images of each class (%zu positive, %zu negative).", t->npos, t->nneg);
        fputs("</p>\n", f);
    }
    image(f, png_dir, "confusion.png", "confusion matrix");
    image(f, png_dir, "roc.png", "ROC curve");
    image(f, png_dir, "calibration.png", "reliability diagram");
    fprintf(f, "<p>Files: metrics.json, predictions.csv%s.</p>\n</body></html>\n",
            rep->title ? "" : ", model.safetensors");
    return pn_afile_commit(&af, err);
}
