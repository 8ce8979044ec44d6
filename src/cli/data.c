/* The shared data options of stats, train and eval: --labels and its
 * column/preset options, --png16, --skip-bad for CSV rows. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

int pn_cli_data_init(pn_cli_data *d, const char *cmd, const pn_cli_opts *o, pn_decode_opts *dec)
{
    memset(d, 0, sizeof *d);
    pn_error e = {0};
    if (o->png16 && dec && pn_png16_parse(o->png16, &dec->png16, &e))
        return pn_cli_usage_error(cmd, "%s", e.msg);
    d->labels = o->labels;
    const char *csv_only = o->preset ? "--preset" : o->columns ? "--columns"
                         : o->split_col ? "--split-column" : o->patient_col ? "--patient-column"
                         : o->uncertain ? "--uncertain" : o->csv_split ? "--csv-split"
                         : o->test_split ? "--test-split" : NULL;
    if (!d->labels && csv_only) return pn_cli_usage_error(cmd, "%s needs --labels FILE.csv", csv_only);
    pn_csv_opts *c = &d->csv;
    if (o->preset && pn_csv_preset_parse(o->preset, &c->preset, &e))
        return pn_cli_usage_error(cmd, "%s", e.msg);
    if (o->uncertain && pn_csv_uncertain_parse(o->uncertain, &c->uncertain, &e))
        return pn_cli_usage_error(cmd, "%s", e.msg);
    if (o->columns) {
        snprintf(d->cols, sizeof d->cols, "%s", o->columns);
        char *comma = strchr(d->cols, ',');
        if (!comma || comma == d->cols || !comma[1])
            return pn_cli_usage_error(cmd, "--columns wants IMAGE,LABEL, not '%s'", o->columns);
        *comma = 0;
        c->image_col = d->cols;
        c->label_col = comma + 1;
    }
    if (d->labels && c->preset == PN_CSV_GENERIC && !c->image_col)
        return pn_cli_usage_error(cmd, "--labels needs --preset rsna|nih|chexpert or --columns "
                                       "IMAGE,LABEL");
    if (o->csv_split) {
        if (pn_split_parse(o->csv_split, &c->split, NULL) || c->split == PN_SPLIT_ALL)
            return pn_cli_usage_error(cmd, "--csv-split wants train, val or test, not '%s'",
                                      o->csv_split);
        c->split_given = 1;
    }
    if (o->test_split &&
        pn_cli_parse_double(cmd, "--test-split", o->test_split, 1e-6, 0.9, &c->test_fraction))
        return 2;
    c->patient_col = o->patient_col;
    c->split_col = o->split_col;
    c->skip_bad = o->skip_bad;
    return 0;
}

pn_status pn_cli_data_open(const pn_cli_data *d, const char *cmd, const char *path,
                           pn_dataset **ds, pn_error *err)
{
    if (!d->labels) return pn_dataset_open(path, ds, err);
    pn_status st = pn_dataset_open_csv(path, d->labels, &d->csv, ds, err);
    if (st) return st;
    size_t ns = pn_dataset_csv_skipped(*ds);
    for (size_t i = 0; i < ns; i++)
        fprintf(stderr, "pneumo %s: skipped: %s\n", cmd, pn_dataset_csv_skipped_reason(*ds, i));
    if (ns)
        fprintf(stderr, "pneumo %s: %zu CSV row%s left out (--skip-bad)\n", cmd, ns,
                ns == 1 ? "" : "s");
    return PN_OK;
}
