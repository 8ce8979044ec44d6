/* Metrics as the CLI prints them, shared by train and eval: train's one-line
 * split summary with its 95% intervals, and the bootstrap block (--bootstrap
 * N) both commands print the same way. Undefined values print as n/a or a
 * sentence, never as NaN. */
#include <math.h>
#include <stdio.h>

#include "cli.h"
#include "pneumo/eval.h"

/* "acc 72.7% [43.4-90.3]": a rate and its 95% interval */
static void rate(const char *name, double v, pn_ci c)
{
    if (!isfinite(v)) printf("  %s n/a", name);
    else if (isfinite(c.lo)) printf("  %s %.1f%% [%.1f-%.1f]", name, 100 * v, 100 * c.lo, 100 * c.hi);
    else printf("  %s %.1f%%", name, 100 * v);
}

void pn_cli_print_split_line(const char *name, const pn_metrics *m, int chose_threshold)
{
    if (!m->n) return;
    printf("%-5s n=%zu", name, m->n);
    rate("acc", m->accuracy, m->accuracy_ci);
    rate("sens", m->sensitivity, m->sensitivity_ci);
    rate("spec", m->specificity, m->specificity_ci);
    if (!isfinite(m->auc)) printf("  AUC n/a (one class)");
    else if (isfinite(m->auc_ci.lo)) printf("  AUC %.4f [%.3f-%.3f]", m->auc, m->auc_ci.lo, m->auc_ci.hi);
    else printf("  AUC %.4f", m->auc);
    printf("  (TN %zu FP %zu FN %zu TP %zu)\n", m->tn, m->fp, m->fn, m->tp);
    if (chose_threshold)
        printf("      (%s chose the threshold: its metrics are optimistic)\n", name);
}

void pn_cli_print_bootstrap(const char *head, const pn_bootstrap *b)
{
    printf("%-12s %d stratified resamples, seed %llu: 95%% percentile intervals\n", head, b->reps,
           (unsigned long long)b->seed);
    static const char *const lab[7] = {"accuracy", "sensitivity", "specificity", "PPV",
                                       "NPV",      "F1",          "ROC AUC"};
    const pn_ci *c[7] = {&b->accuracy, &b->sensitivity, &b->specificity, &b->ppv,
                         &b->npv,      &b->f1,          &b->auc};
    for (int q = 0; q < 7; q++) {
        if (!isfinite(c[q]->lo))
            printf("  %-11s undefined in every resample\n", lab[q]);
        else if (q < 5)
            printf("  %-11s %6.2f-%6.2f%%", lab[q], 100 * c[q]->lo, 100 * c[q]->hi);
        else printf("  %-11s %.4f-%.4f", lab[q], c[q]->lo, c[q]->hi);
        if (isfinite(c[q]->lo) && b->undefined[q])
            printf("  (undefined in %d resample%s, left out)\n", b->undefined[q],
                   b->undefined[q] == 1 ? "" : "s");
        else if (isfinite(c[q]->lo)) printf("\n");
    }
}
