/* pneumo stats DATA: images per split and class, imbalance ratios,
 * unreadable files, and a bar chart PNG. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "pneumo/dataset.h"
#include "pneumo/report.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo stats DATA [--json] [--chart FILE | --no-chart] [options]\n"
            "\n"
            "DATA is a folder (<split>/<class>/*.jpeg, ImageFolder rules), a .zip holding\n"
            "that layout (read in place), or a MedMNIST .npz. Prints images per split and\n"
            "class with the imbalance ratio (largest / smallest class), decodes every\n"
            "image to list the unreadable ones with the reason, and draws a bar chart.\n"
            "\n"
            "options:\n"
            "      --json          machine-readable output on stdout\n"
            "  -c, --chart FILE    bar chart PNG (default ./dataset_stats.png)\n"
            "      --no-chart      no chart\n"
            "      --no-check      do not decode the images (counts only)\n"
            "  -j, --threads N     decoding threads for the check (default 2)\n"
            "      --min-side N    images with a smaller side are bad (default %d)\n"
            "      --png16 MODE    16-bit grayscale PNGs: scale (default: by the sBIT\n"
            "                      depth, else 16 bits) or clip (Pillow: over 255 is white)\n"
            "%s"
            "      --skip-bad      leave out bad CSV rows (listed with their line)\n"
            "  -h, --help          this help\n"
            "\n"
            "Exit status: 0 when the statistics were produced (even with unreadable\n"
            "files, which are listed), 1 on error, 2 on a usage error.\n",
            PN_IMAGE_MIN_SIDE_DEFAULT, PN_CLI_LABELS_HELP);
}

int pn_cmd_stats(int argc, char **argv)
{
    const char *cmd = "stats", *chart = "dataset_stats.png";
    int chart_asked = 0;
    int check = 1;
    pn_decode_opts o = {.fast_decode = 1}; /* full entropy decode; IDCT scaled */
    enum { OPT_NOCHART = 256, OPT_NOCHECK };
    static const struct option opts[] = {{"chart", required_argument, 0, 'c'},
                                         {"no-chart", no_argument, 0, OPT_NOCHART},
                                         {"no-check", no_argument, 0, OPT_NOCHECK},
                                         {0, 0, 0, 0}};
    pn_cli_parser ps;
    pn_cli_opts cl = {.threads = 2};
    pn_cli_parser_init(&ps, cmd, "c:", opts,
                       PN_OPT_JSON | PN_OPT_THREADS | PN_OPT_MIN_SIDE | PN_OPT_SKIP_BAD |
                           PN_OPT_PNG16 | PN_OPT_LABELS | PN_OPT_HELP |
                           PN_OPT_LENIENT_JPEG);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &cl)) != -1) {
        switch (ch) {
        case 'c': chart = optarg, chart_asked = 1; break;
        case OPT_NOCHART: chart = NULL; break;
        case OPT_NOCHECK: check = 0; break;
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    int json = cl.json;
    long threads = cl.threads;
    o.min_side = (int)cl.min_side;
    pn_cli_data dd;
    if (pn_cli_data_init(&dd, cmd, &cl, &o)) return 2;
    const char *labels = dd.labels;
    if (optind != argc - 1) return pn_cli_usage_error(cmd, "expected exactly one DATA path");
    const char *path = argv[optind];

    pn_error err = {0};
    pn_dataset *ds = NULL;
    pn_dataset_stats st;
    pn_bad_list bad = {0};
    pn_check_info info = {0};
    if (pn_cli_data_open(&dd, cmd, path, &ds, &err)) goto fail;
    if (pn_dataset_stats_get(ds, &st, &err)) goto fail;
    if (labels) {
        size_t ns = pn_dataset_csv_skipped(ds);
        if (!json)
            printf("labels %s: %zu row%s dropped by the label policy, %zu skipped\n", labels,
                   pn_dataset_csv_dropped(ds), pn_dataset_csv_dropped(ds) == 1 ? "" : "s", ns);
    }
    if (check && pn_dataset_check_info(ds, PN_SPLIT_ALL, &o, (int)threads, &bad, &info, &err))
        goto fail;
    if (info.png16_clipped)
        fprintf(stderr,
                "pneumo stats: warning: %zu 16-bit PNG%s clipped to 0..255 (--png16 clip): "
                "their pixels over 255 are white\n",
                info.png16_clipped, info.png16_clipped == 1 ? "" : "s");
    /* the statistics are printed even when the chart cannot be written (a
     * read-only folder, a full disk): the default chart's failure is a
     * warning, an asked-for --chart's an error after the output */
    int chart_failed = 0;
    if (chart) {
        char title[512];
        snprintf(title, sizeof title, "%s", path);
        if (pn_dataset_stats_chart(&st, title, chart, &err)) {
            chart_failed = 1;
            if (!chart_asked)
                fprintf(stderr, "pneumo stats: warning: no chart: %s (--chart FILE writes it "
                                "elsewhere, --no-chart skips it)\n", err.msg);
            chart = NULL;
        }
    }

    int nc = st.num_classes;
    size_t all[PN_MAX_CLASSES] = {0}, all_total = 0, lo = (size_t)-1, hi = 0;
    for (int c = 0; c < nc; c++) {
        for (int s = 0; s < PN_NUM_SPLITS; s++) all[c] += st.count[s][c];
        all_total += all[c];
        if (all[c] < lo) lo = all[c];
        if (all[c] > hi) hi = all[c];
    }
    double all_ratio = nc > 0 && lo > 0 ? (double)hi / (double)lo : 0;

    if (json) {
        cJSON *root = cJSON_CreateObject(), *splits = cJSON_CreateObject(),
              *cls = cJSON_CreateArray(), *bl = cJSON_CreateArray();
        cJSON_AddStringToObject(root, "dataset", path);
        cJSON_AddStringToObject(root, "kind", pn_dataset_kind(ds));
        for (int c = 0; c < nc; c++)
            cJSON_AddItemToArray(cls, cJSON_CreateString(st.class_name[c]));
        cJSON_AddItemToObject(root, "classes", cls);
        for (int s = 0; s <= PN_NUM_SPLITS; s++) {
            cJSON *o_s = cJSON_CreateObject();
            for (int c = 0; c < nc; c++)
                cJSON_AddNumberToObject(o_s, st.class_name[c],
                                        (double)(s < PN_NUM_SPLITS ? st.count[s][c] : all[c]));
            cJSON_AddNumberToObject(o_s, "total",
                                    (double)(s < PN_NUM_SPLITS ? st.total[s] : all_total));
            double r = s < PN_NUM_SPLITS ? st.imbalance[s] : all_ratio;
            if (r > 0) cJSON_AddNumberToObject(o_s, "imbalance", r);
            else cJSON_AddNullToObject(o_s, "imbalance"); /* empty split, or a class missing */
            cJSON_AddItemToObject(splits, pn_split_name((pn_split)s), o_s);
        }
        cJSON_AddItemToObject(root, "splits", splits);
        if (check) {
            for (size_t i = 0; i < bad.n; i++) {
                cJSON *b = cJSON_CreateObject();
                cJSON_AddStringToObject(b, "name", bad.v[i].item->name);
                cJSON_AddStringToObject(b, "error", pn_status_name(bad.v[i].code));
                cJSON_AddStringToObject(b, "reason", bad.v[i].reason);
                cJSON_AddItemToArray(bl, b);
            }
            cJSON_AddItemToObject(root, "unreadable", bl);
            cJSON *p16 = cJSON_CreateObject();
            cJSON_AddNumberToObject(p16, "files", (double)info.png16);
            cJSON_AddStringToObject(p16, "policy", pn_png16_name(o.png16));
            cJSON_AddNumberToObject(p16, "clipped", (double)info.png16_clipped);
            cJSON_AddItemToObject(root, "png16", p16);
        } else {
            cJSON_Delete(bl);
            cJSON_AddNullToObject(root, "unreadable");
        }
        if (chart) cJSON_AddStringToObject(root, "chart", chart);
        else cJSON_AddNullToObject(root, "chart");
        char *s = cJSON_Print(root);
        printf("%s\n", s ? s : "{}");
        free(s);
        cJSON_Delete(root);
    } else {
        printf("dataset %s (%s, %d class%s)\n\n", path, pn_dataset_kind(ds), nc, nc == 1 ? "" : "es");
        printf("%-6s", "split");
        for (int c = 0; c < nc; c++) printf(" %10s", st.class_name[c]);
        printf(" %8s  %s\n", "total", "imbalance (largest/smallest class)");
        for (int s = 0; s <= PN_NUM_SPLITS; s++) {
            printf("%-6s", pn_split_name((pn_split)s));
            for (int c = 0; c < nc; c++)
                printf(" %10zu", s < PN_NUM_SPLITS ? st.count[s][c] : all[c]);
            double r = s < PN_NUM_SPLITS ? st.imbalance[s] : all_ratio;
            size_t tot = s < PN_NUM_SPLITS ? st.total[s] : all_total;
            printf(" %8zu  ", tot);
            if (r > 0) {
                printf("%.2f\n", r);
            } else if (tot == 0) {
                printf("-\n");
            } else { /* images, but some class has none: name them */
                printf("inf (no");
                for (int c = 0, k = 0; c < nc; c++)
                    if ((s < PN_NUM_SPLITS ? st.count[s][c] : all[c]) == 0)
                        printf("%s %s", k++ ? "," : "", st.class_name[c]);
                printf(")\n");
            }
        }
        if (check) {
            printf("\nunreadable files: %zu\n", bad.n);
            for (size_t i = 0; i < bad.n; i++)
                printf("  [%s] %s\n", pn_status_name(bad.v[i].code), bad.v[i].reason);
            if (info.png16 && o.png16 == PN_PNG16_CLIP)
                printf("16-bit grayscale PNGs: %zu, clipped as Pillow (--png16 clip): %zu with "
                       "values over 255\n",
                       info.png16, info.png16_clipped);
            else if (info.png16)
                printf("16-bit grayscale PNGs: %zu, scaled by their sBIT depth (--png16 scale; "
                       "Pillow/PyTorch clip them: --png16 clip for parity)\n",
                       info.png16);
        } else {
            printf("\nunreadable files: not checked (--no-check)\n");
        }
        if (chart) printf("chart: %s\n", chart);
    }
    fflush(stdout);
    if (chart_failed && chart_asked) goto fail;
    pn_bad_list_free(&bad);
    pn_dataset_free(ds);
    return 0;
fail:
    pn_bad_list_free(&bad);
    pn_dataset_free(ds);
    return pn_cli_fail(cmd, &err);
}
