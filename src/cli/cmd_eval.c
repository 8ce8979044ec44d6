/* pneumo eval --model M --data DATA [--split test] [--json]: clinical
 * metrics of a trained model on a dataset split. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pneumo/eval.h"
#include "pneumo/eval.h"
#include "pneumo/report.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo eval --model M --data DATA [--split test] [--json] [options]\n"
            "\n"
            "Accuracy, sensitivity (recall of the positive class, PNEUMONIA by default),\n"
            "specificity, PPV, NPV, F1, ROC AUC\n"
            "(exact, ties averaged) and the confusion matrix of model M on one split.\n"
            "M is a model from 'pneumo train', or a torchvision ResNet-18 state_dict (.pth or\n"
            "safetensors) with a 2-output head (classes NORMAL, PNEUMONIA).\n"
            "Undefined values (0/0, or AUC with one class) print as n/a (null in JSON).\n"
            "\n"
            "The data's class names are matched to the model's by name (any case), never\n"
            "by position: a class the model does not have is refused unless --classes\n"
            "maps it.\n"
            "\n"
            "  -m, --model M        model file\n"
            "  -d, --data DATA      folder, .zip or .npz; a plain folder of class folders\n"
            "                       (no train/val/test) is evaluated whole\n"
            "  -s, --split S        train, val or test (default test)\n"
            "      --threshold T    decision threshold on P(positive) (default: the model's)\n"
            "      --classes MAP    MODEL=DATA,... e.g. NORMAL=normal,PNEUMONIA=abnormal\n"
            "      --positive C     the class sensitivity and the threshold refer to\n"
            "                       (default PNEUMONIA, else the model's second class; the\n"
            "                       model's other class: its threshold T becomes 1 - T)\n"
            "      --png16 MODE     16-bit grayscale PNGs: scale (default) or clip (Pillow)\n"
            "%s"
            "      --json           one JSON object on stdout\n"
            "  -j, --threads N      threads (default: all cores)\n"
            "      --batch N        batch size (default 32)\n"
            "      --bf16           bfloat16 backbone\n"
            "      --fast-decode    JPEG DCT-domain downscaling (faster, not bit-exact)\n"
            "      --skip-bad       leave unreadable images out (each named on stderr with\n"
            "                       the reason, and the count) and bad --labels rows\n"
            "                       instead of stopping\n"
            "  -h, --help           this help\n",
            PN_CLI_LABELS_HELP);
}

static void pct(const char *name, double v)
{
    if (isfinite(v)) printf("%-12s %6.2f%%\n", name, 100 * v);
    else printf("%-12s    n/a\n", name);
}

int pn_cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval", *model = NULL, *data = NULL, *split_s = "test";
    int split_given = 0;
    double thr = NAN;
    enum { O_THR = 256 };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 's'}, {"threshold", required_argument, 0, O_THR},
        {0, 0, 0, 0}};
    pn_cli_parser ps;
    pn_cli_opts co = {.threads = 0, .batch = 32};
    pn_cli_parser_init(&ps, cmd, "m:d:s:", opts,
                       PN_OPT_HELP | PN_OPT_JSON | PN_OPT_THREADS | PN_OPT_BATCH | PN_OPT_BF16 |
                           PN_OPT_FAST_DECODE | PN_OPT_SKIP_BAD | PN_OPT_LABELS | PN_OPT_PNG16 |
                           PN_OPT_CLASSES | PN_OPT_POSITIVE |
                           PN_OPT_NO_VERIFY);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 's': split_s = optarg, split_given = 1; break;
        case O_THR: if (pn_cli_parse_double(cmd, "--threshold", optarg, 0, 1, &thr)) return 2; break;
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    long threads = co.threads, batch = co.batch;
    int json = co.json, bf16 = co.bf16, skip_bad = co.skip_bad;
    pn_decode_opts dopt = {.fast_decode = co.fast_decode};
    pn_cli_data dd;
    if (pn_cli_data_init(&dd, cmd, &co, &dopt)) return 2;
    if (optind != argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model || !data) return pn_cli_usage_error(cmd, "--model and --data are required");
    pn_error err = {0};
    pn_split split;
    if (pn_split_parse(split_s, &split, &err) || split == PN_SPLIT_ALL)
        return pn_cli_usage_error(cmd, "--split wants train, val or test, not '%s'", split_s);

    int rc = 1;
    pn_classifier c = {0};
    pn_dataset *ds = NULL;
    float *probs = NULL;
    int *labels = NULL;
    const char **names = NULL;
    size_t n = 0;
    pn_bad_list bad = {0};
    if (pn_classifier_open(&c, model, (int)batch, (int)threads, bf16, 0, &err)) goto fail;
    if (c.classes != 2) {
        pn_error_set(&err, PN_E_UNSUPPORTED, "%s: %d classes; eval reports binary metrics",
                     model, c.classes);
        goto fail;
    }
    if (pn_cli_data_open(&dd, cmd, data, &ds, &err)) goto fail;
    /* the data's classes by name onto the model's (--classes), the positive class */
    int map[PN_MAX_CLASSES], pos;
    const char *mn[2] = {c.meta.class_names[0], c.meta.class_names[1]};
    if (pn_class_map_dataset(ds, mn, 2, co.classes, map, &err) ||
        pn_class_positive(mn, 2, co.positive, 1, &pos, &err))
        goto fail;
    if (!split_given && pn_dataset_is_flat(ds)) split = PN_SPLIT_TRAIN; /* a plain class folder */
    if (isnan(thr)) thr = pos == 1 ? c.meta.threshold : 1 - c.meta.threshold;
    if (pn_classifier_eval_split(&c, ds, split, (int)threads, &dopt, skip_bad, &probs, &labels,
                                 &names, &n, &bad, &err))
        goto fail;
    /* --skip-bad: name every image left out, with the reason, and the count */
    for (size_t i = 0; i < bad.n; i++) {
        const char *name = bad.v[i].item ? bad.v[i].item->name : "?";
        if (strstr(bad.v[i].reason, name))
            fprintf(stderr, "pneumo eval: skipped unreadable image %s\n", bad.v[i].reason);
        else
            fprintf(stderr, "pneumo eval: skipped unreadable image %s: %s\n", name,
                    bad.v[i].reason);
    }
    if (bad.n)
        fprintf(stderr, "pneumo eval: %zu unreadable image%s left out (--skip-bad); the metrics are "
                        "on the other %zu\n",
                bad.n, bad.n == 1 ? "" : "s", n);
    for (size_t i = 0; i < n; i++) labels[i] = map[labels[i]];
    if (pos == 0) pn_class_swap2(probs, labels, n); /* --positive: the model's class 0 */
    pn_metrics m;
    if (pn_classifier_metrics(&c, probs, labels, n, thr, &m, &err)) goto fail;
    const char *cn[2] = {c.meta.class_names[1 - pos], c.meta.class_names[pos]};
    if (json) {
        char *s = pn_metrics_json_string(&m, cn);
        if (!s) {
            pn_error_set(&err, PN_E_NOMEM, "out of memory");
            goto fail;
        }
        printf("%s\n", s);
        free(s);
    } else {
        printf("model %s on %s%s%s: %zu images, threshold %.4f on P(%s)\n", model, data,
               pn_dataset_is_flat(ds) ? "" : "/", pn_dataset_is_flat(ds) ? "" : pn_split_name(split),
               n, thr, cn[1]);
        pct("accuracy", m.accuracy);
        pct("sensitivity", m.sensitivity);
        pct("specificity", m.specificity);
        pct("PPV", m.ppv);
        pct("NPV", m.npv);
        if (isfinite(m.f1)) printf("%-12s %7.4f\n", "F1", m.f1);
        else printf("%-12s    n/a\n", "F1");
        if (isfinite(m.auc)) printf("%-12s %7.4f\n", "ROC AUC", m.auc);
        else printf("%-12s    n/a (one class only)\n", "ROC AUC");
        printf("confusion    predicted %s / %s\n", cn[0], cn[1]);
        printf("  true %-9s %6zu %6zu\n", cn[0], m.tn, m.fp);
        printf("  true %-9s %6zu %6zu\n", cn[1], m.fn, m.tp);
    }
    rc = 0;
    goto done;
fail:
    rc = pn_cli_fail(cmd, &err);
done:
    pn_bad_list_free(&bad);
    free(probs);
    free(labels);
    free(names);
    if (ds) pn_dataset_free(ds);
    pn_classifier_free(&c);
    return rc;
}
