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
          "<title>pneumo training report</title>\n<style>\n"
          "body{font-family:sans-serif;max-width:1150px;margin:2em auto;color:#222}\n"
          "table{border-collapse:collapse;margin:0.5em 0 1.5em}\n"
          "td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}\n"
          "th{background:#f0f3f8}td.k{text-align:left}.na{color:#999}\n"
          "figure{display:inline-block;margin:0 1em 1em 0}img{max-width:100%;border:1px solid #ddd}\n"
          "</style></head><body>\n<h1>pneumo training report</h1>\n", f);
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
    fputs("</table>\n<h2>Training history</h2>\n<table>\n<tr><th>epoch</th><th>train loss</th>"
          "<th>train acc</th><th>val loss</th><th>val acc</th><th>lr</th><th>seconds</th></tr>\n",
          f);
    for (int i = 0; i < rep->nhist; i++) {
        const pn_epoch_stats *h = &rep->hist[i];
        fprintf(f, "<tr><td>%d</td>", h->epoch);
        cell(f, h->train_loss, 0);
        cell(f, h->train_acc, 1);
        cell(f, h->val_loss, 0);
        cell(f, h->val_acc, 1);
        fprintf(f, "<td>%.3g</td><td>%.2f</td></tr>\n", h->lr, h->seconds);
    }
    fputs("</table>\n", f);
    if (rep->selected_epoch > 0) {
        fputs("<p>Saved model: ", f);
        if (rep->selection) html_text(f, rep->selection);
        else fprintf(f, "epoch %d", rep->selected_epoch);
        fputs(".</p>\n", f);
    }
    image(f, png_dir, "curves.png", "loss and accuracy per epoch");
    fputs("<h2>Final metrics</h2>\n<p>Positive class: ", f);
    html_text(f, rep->class_names[rep->classes - 1]);
    fputs(". n/a = undefined (0/0, or ROC AUC with one class only).</p>\n<table>\n<tr><th>split"
          "</th><th>n</th><th>accuracy</th><th>sensitivity</th><th>specificity</th><th>PPV</th>"
          "<th>NPV</th><th>F1</th><th>ROC AUC</th><th>TN</th><th>FP</th><th>FN</th><th>TP</th>"
          "</tr>\n", f);
    for (int s = 0; s < rep->nsplits; s++) {
        const pn_metrics *m = &rep->splits[s].m;
        fputs("<tr><td class=k>", f);
        html_text(f, rep->splits[s].name);
        fprintf(f, "</td><td>%zu</td>", m->n);
        cell(f, m->accuracy, 1);
        cell(f, m->sensitivity, 1);
        cell(f, m->specificity, 1);
        cell(f, m->ppv, 1);
        cell(f, m->npv, 1);
        cell(f, m->f1, 0);
        cell(f, m->auc, 0);
        fprintf(f, "<td>%zu</td><td>%zu</td><td>%zu</td><td>%zu</td></tr>\n", m->tn, m->fp, m->fn,
                m->tp);
    }
    static const char *const always[] = {"val", "test"};
    for (int k = 0; k < 2; k++) {
        int found = 0;
        for (int s = 0; s < rep->nsplits; s++) found |= !strcmp(rep->splits[s].name, always[k]);
        if (!found)
            fprintf(f, "<tr><td class=k>%s</td><td class=na colspan=12 style=\"text-align:left\">"
                       "no %s split</td></tr>\n",
                    always[k], k ? "test" : "validation");
    }
    fputs("</table>\n", f);
    image(f, png_dir, "confusion.png", "confusion matrix");
    image(f, png_dir, "roc.png", "ROC curve");
    fputs("<p>Files: metrics.json, predictions.csv, model.safetensors.</p>\n</body></html>\n", f);
    return pn_afile_commit(&af, err);
}
