/* pneumo eval --model M [--model M2] --data DATA [--split test] [--out DIR]
 * [--bootstrap N] [--json]: clinical metrics of trained models on a dataset
 * split, with their 95% intervals (and DeLong's paired test of two models). */
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dist/dist.h"
#include "progress.h"
#include "pneumo/app.h"
#include "pneumo/eval.h"
#include "pneumo/report.h"
#include "pneumo/util.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo eval --model M [--model M2] --data DATA [--split test] [--out DIR]\n"
            "                   [--bootstrap N] [--json] [options]\n"
            "\n"
            "Accuracy, sensitivity (recall of the positive class, PNEUMONIA by default),\n"
            "specificity, PPV, NPV, F1, ROC AUC (exact, ties averaged) and the confusion\n"
            "matrix of model M on one split, each rate\n"
            "with its 95%% confidence interval (Wilson's score interval; DeLong's for the AUC).\n"
            "M is a model from 'pneumo train', or a torchvision ResNet-18 state_dict (.pth or\n"
            "safetensors) with a 2-output head (classes NORMAL, PNEUMONIA). Any data set works\n"
            "(an external one included): its images are read through the feature cache, so a\n"
            "second eval of the same set with the same model skips the backbone.\n"
            "Undefined values (0/0, or AUC with one class) print as n/a (null in JSON).\n"
            "The data's class names are matched to the model's by name (any case), never\n"
            "by position: a class the model does not have is refused unless --classes\n"
            "maps it.\n"
            "\n"
            "  -m, --model M        model file; a second --model compares the two on the\n"
            "                       same images (DeLong's paired test of the AUCs)\n"
            "  -d, --data DATA      folder, .zip or .npz; a plain folder of class folders\n"
            "                       (no train/val/test) is evaluated whole\n"
            "  -s, --split S        train, val or test (default test)\n"
            "      --threshold T    decision threshold on P(positive) (default: the model's);\n"
            "                       auto, sens=X, spec=X or ppv=X choose it on this split\n"
            "                       itself (its metrics are then optimistic, and say so)\n"
            "      --bootstrap N    also a seeded stratified percentile bootstrap (N resamples)\n"
            "                       of every metric, F1 included\n"
            "      --seed S         the bootstrap's seed (default 0)\n"
            "  -o, --out DIR        write predictions.csv, confusion.png, roc.png,\n"
            "                       metrics.json and report.html there\n"
            "      --no-cache       do not read or write the feature cache\n"
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
            "      --int8           int8 backbone (M from 'pneumo quantize')\n"
            "      --winograd       Winograd 3x3 convs (fp32; where oneDNN has them)\n"
            "      --fast-decode    JPEG DCT-domain downscaling (faster, not bit-exact)\n"
            "      --skip-bad       leave unreadable images out (each named on stderr with\n"
            "                       the reason, and the count) and bad --labels rows\n"
            "                       instead of stopping\n"
            "      --no-verify      do not check the model's recorded SHA-256\n"
            "  -q, --quiet          no progress on stderr\n"
            "  -h, --help           this help\n",
            PN_CLI_LABELS_HELP);
}

static void row(const char *name, double v, pn_ci c, int pct, const char *method)
{
    if (!isfinite(v)) {
        printf("%-12s    n/a\n", name);
        return;
    }
    if (pct) printf("%-12s %6.2f%%", name, 100 * v);
    else printf("%-12s %7.4f", name, v);
    if (isfinite(c.lo) && pct) printf("   95%% CI %6.2f-%6.2f%%  (%s)\n", 100 * c.lo, 100 * c.hi, method);
    else if (isfinite(c.lo)) printf("   95%% CI %.4f-%.4f  (%s)\n", c.lo, c.hi, method);
    else if (method) printf("   95%% CI n/a\n");
    else printf("\n");
}

typedef struct model_run {
    const char *path;
    char name[256];            /* the file's base name */
    char sha[65];
    pn_classifier c;
    pn_eval_probs ev;
    double thr;
    int chose;                 /* the threshold was chosen on this split */
    char thr_src[128];
    pn_split_result res;
    pn_bootstrap boot;
    float *p1;                 /* (n) P(positive) */
    int map[PN_MAX_CLASSES];   /* data class -> model class (--classes) */
    int pos;                   /* the model's positive class (--positive) */
} model_run;

typedef struct ui {
    pn_cli_progress bar;
    char label[300];
    const char *what;
} ui;

static void ui_progress(const char *what, size_t done, size_t total, void *user)
{
    ui *u = user;
    if (!total) return;
    if (u->what != what) {
        u->what = what;
        pn_cli_progress_begin(&u->bar, u->label, "images", 0);
    }
    pn_cli_progress_update(&u->bar, (int64_t)done, (int64_t)total);
    if (done == total) pn_cli_progress_end(&u->bar, (int64_t)done, (int64_t)total, NULL);
}

int pn_cmd_eval(int argc, char **argv)
{
    const char *cmd = "eval", *data = NULL, *split_s = "test", *thr_s = NULL, *out = NULL;
    const char *models[2] = {NULL, NULL};
    int nmodels = 0, no_cache = 0, split_given = 0;
    long boot_n = 0, seed = 0;
    enum { O_THR = 256, O_BOOT, O_SEED, O_NOCACHE };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},    {"data", required_argument, 0, 'd'},
        {"split", required_argument, 0, 's'},    {"threshold", required_argument, 0, O_THR},
        {"bootstrap", required_argument, 0, O_BOOT}, {"seed", required_argument, 0, O_SEED},
        {"out", required_argument, 0, 'o'},      {"no-cache", no_argument, 0, O_NOCACHE},
        {0, 0, 0, 0}};
    static pn_audit audit; /* before getopt reorders argv */
    pn_audit_init(&audit, argc, argv);
    pn_cli_parser ps;
    pn_cli_opts co = {.threads = 0, .batch = 32};
    pn_cli_parser_init(&ps, cmd, "m:d:s:o:", opts,
                       PN_OPT_HELP | PN_OPT_JSON | PN_OPT_QUIET | PN_OPT_THREADS | PN_OPT_BATCH |
                           PN_OPT_BF16 | PN_OPT_INT8 | PN_OPT_WINOGRAD | PN_OPT_FAST_DECODE |
                           PN_OPT_SKIP_BAD | PN_OPT_LABELS | PN_OPT_PNG16 | PN_OPT_CLASSES |
                           PN_OPT_POSITIVE | PN_OPT_NO_VERIFY | PN_OPT_LENIENT_JPEG);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (ch) {
        case 'm':
            if (nmodels == 2) return pn_cli_usage_error(cmd, "at most two --model (a pair to compare)");
            models[nmodels++] = optarg;
            break;
        case 'd': data = optarg; break;
        case 's': split_s = optarg, split_given = 1; break;
        case 'o': out = optarg; break;
        case O_THR: thr_s = optarg; break;
        case O_BOOT: if (pn_cli_parse_int(cmd, "--bootstrap", optarg, 1, 1000000, &boot_n)) return 2; break;
        case O_SEED: if (pn_cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffL, &seed)) return 2; break;
        case O_NOCACHE: no_cache = 1; break;
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    long threads = co.threads, batch = co.batch;
    int json = co.json;
    pn_decode_opts dopt = {.fast_decode = co.fast_decode};
    pn_cli_data dd;
    if (pn_cli_data_init(&dd, cmd, &co, &dopt)) return 2;
    if (optind != argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!nmodels || !data) return pn_cli_usage_error(cmd, "--model and --data are required");
    pn_error err = {0};
    pn_split split;
    if (pn_split_parse(split_s, &split, &err) || split == PN_SPLIT_ALL)
        return pn_cli_usage_error(cmd, "--split wants train, val or test, not '%s'", split_s);
    double thr_fixed = NAN;
    pn_op_rule rule;
    int thr_rule = 0;
    if (thr_s && (strchr(thr_s, '=') || !strcmp(thr_s, "auto") || !strcmp(thr_s, "youden"))) {
        if (pn_op_rule_parse(thr_s, &rule, &err)) return pn_cli_usage_error(cmd, "--threshold: %s", err.msg);
        thr_rule = 1;
    } else if (thr_s && pn_cli_parse_double(cmd, "--threshold", thr_s, 0, 1, &thr_fixed)) {
        return 2;
    }

    int rc = 1;
    model_run mr[2];
    memset(mr, 0, sizeof mr);
    pn_dataset *ds = NULL;
    pn_delong_test cmp;
    ui u = {0};
    pn_cli_progress_init(&u.bar, co.quiet ? PN_CLI_QUIET : PN_CLI_AUTO);
    if (pn_cli_data_open(&dd, cmd, data, &ds, &err)) goto fail;
    if (!split_given && pn_dataset_is_flat(ds)) split = PN_SPLIT_TRAIN; /* a plain class folder */
    pn_eval_config ec;
    pn_eval_config_default(&ec);
    ec.threads = (int)threads;
    ec.bf16 = pn_cli_infer_mode(&co); /* PN_INFER_* flags, 1 = bf16 */
    ec.fast_decode = co.fast_decode;
    ec.png16 = dopt.png16;
    ec.skip_bad = co.skip_bad;
    ec.use_cache = !no_cache;
    ec.manifest = out != NULL;
    ec.progress = ui_progress;
    ec.user = &u;
    for (int k = 0; k < nmodels; k++) {
        model_run *r = &mr[k];
        r->path = models[k];
        const char *slash = strrchr(r->path, '/');
        snprintf(r->name, sizeof r->name, "%s", slash ? slash + 1 : r->path);
        if (!strcmp(r->name, "model.safetensors") && slash && slash > r->path) {
            /* runs/x/model.safetensors: name it by its folder */
            const char *b = slash;
            while (b > r->path && b[-1] != '/') b--;
            snprintf(r->name, sizeof r->name, "%.*s", (int)(slash - b), b);
        }
        uint8_t h[32];
        if (pn_sha256_file(r->path, h, &err)) goto fail;
        pn_hex(h, 32, r->sha);
        if (pn_classifier_open(&r->c, r->path, (int)batch, (int)threads, pn_cli_infer_mode(&co), 0,
                               &err))
            goto fail;
        if (pn_infer_notice(r->c.engine)[0] && k == 0)
            fprintf(stderr, "pneumo eval: %s\n", pn_infer_notice(r->c.engine));
        if (r->c.classes != 2) {
            pn_error_set(&err, PN_E_UNSUPPORTED, "%s: %d classes; eval reports binary metrics",
                         r->path, r->c.classes);
            goto fail;
        }
        /* the data's classes by name onto the model's (--classes), the positive class */
        const char *mn[2] = {r->c.meta.class_names[0], r->c.meta.class_names[1]};
        if (pn_class_map_dataset(ds, mn, 2, co.classes, r->map, &err) ||
            pn_class_positive(mn, 2, co.positive, 1, &r->pos, &err))
            goto fail;
        snprintf(u.label, sizeof u.label, "  %s on %s", r->name, pn_split_name(split));
        u.what = NULL;
        if (pn_eval_split_probs(&r->c, h, ds, split, &ec, &r->ev, &err)) goto fail;
        pn_cli_progress_clear(&u.bar);
        /* --skip-bad: name every image left out, with the reason, and the count */
        const pn_bad_list *bad = &r->ev.bad;
        for (size_t i = 0; i < bad->n && k == 0; i++) {
            const char *name = bad->v[i].item ? bad->v[i].item->name : "?";
            const char *why = bad->v[i].reason ? bad->v[i].reason : "unreadable";
            if (strstr(why, name)) fprintf(stderr, "pneumo eval: skipped unreadable image %s\n", why);
            else fprintf(stderr, "pneumo eval: skipped unreadable image %s: %s\n", name, why);
        }
        if (bad->n && k == 0)
            fprintf(stderr, "pneumo eval: %zu unreadable image%s left out (--skip-bad); the metrics "
                            "are on the other %zu\n",
                    bad->n, bad->n == 1 ? "" : "s", r->ev.n);
        if (r->ev.n == 0) {
            pn_error_set(&err, PN_E_ARG,
                         "%s/%s: every image was unreadable and left out (--skip-bad): there is "
                         "nothing to measure",
                         data, pn_split_name(split));
            goto fail;
        }
        const size_t n = r->ev.n;
        for (size_t i = 0; i < n; i++) r->ev.labels[i] = r->map[r->ev.labels[i]];
        if (r->pos == 0) pn_class_swap2(r->ev.probs, r->ev.labels, n); /* --positive: class 0 */
        r->p1 = malloc(n * sizeof *r->p1);
        if (!r->p1) {
            pn_error_set(&err, PN_E_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) r->p1[i] = r->ev.probs[2 * i + 1];
        r->thr = r->pos == 1 ? r->c.meta.threshold : 1 - r->c.meta.threshold;
        snprintf(r->thr_src, sizeof r->thr_src, "the model's");
        if (isfinite(thr_fixed)) {
            r->thr = thr_fixed;
            snprintf(r->thr_src, sizeof r->thr_src, "--threshold");
        } else if (thr_rule) {
            double got;
            char what[64];
            if (pn_op_threshold(r->p1, r->ev.labels, n, &rule, &r->thr, &got, &err)) goto fail;
            r->chose = 1;
            snprintf(r->thr_src, sizeof r->thr_src, "%s on this %s split itself",
                     pn_op_rule_describe(&rule, what, sizeof what), pn_split_name(split));
        }
        r->res = (pn_split_result){.name = pn_split_name(split), .n = n, .files = r->ev.names,
                                   .labels = r->ev.labels, .probs = r->ev.probs,
                                   .chose_threshold = r->chose, .patients = r->ev.patients,
                                   .sop_uids = r->ev.sop_uids};
        if (pn_split_result_compute(&r->res, 2, r->thr, &err)) goto fail;
        if (boot_n) {
            if (pn_bootstrap_metrics(r->p1, r->ev.labels, n, r->thr, (int)boot_n, (uint64_t)seed,
                                     &r->boot, &err))
                goto fail;
            r->res.boot = &r->boot;
        }
    }
    if (nmodels == 2) {
        const model_run *a = &mr[0], *b = &mr[1];
        if (a->ev.n != b->ev.n || memcmp(a->ev.labels, b->ev.labels, a->ev.n * sizeof(int))) {
            pn_error_set(&err, PN_E_ARG, "the two models were not scored on the same images");
            goto fail;
        }
        if (pn_delong_paired(a->p1, b->p1, a->ev.labels, a->ev.n, &cmp, &err)) goto fail;
    }

    /* under mpirun every rank has every probability (the sharded feature
     * pass gathers them); rank 0 reports and writes for the job */
    if (pn__dist_rank() != 0) {
        rc = 0;
        goto done;
    }
    const char *names2[2] = {mr[0].c.meta.class_names[1 - mr[0].pos], mr[0].c.meta.class_names[mr[0].pos]};
    if (json) {
        char *s[3] = {NULL, NULL, NULL};
        for (int k = 0; k < nmodels; k++) {
            s[k] = pn_metrics_json_string(&mr[k].res.m, names2, boot_n ? &mr[k].boot : NULL);
            if (s[k] && mr[k].chose) { /* the split chose the threshold: say so */
                cJSON *o = cJSON_Parse(s[k]);
                free(s[k]);
                s[k] = NULL;
                if (o) {
                    cJSON_AddTrueToObject(o, "chose_threshold");
                    cJSON_AddStringToObject(o, "caution", PN_CHOSE_THRESHOLD_NOTE);
                    s[k] = cJSON_PrintUnformatted(o);
                    cJSON_Delete(o);
                }
            }
        }
        if (nmodels == 2) s[2] = pn_delong_json_string(&cmp, mr[0].path, mr[1].path);
        if (!s[0] || (nmodels == 2 && (!s[1] || !s[2]))) {
            for (int k = 0; k < 3; k++) free(s[k]);
            pn_error_set(&err, PN_E_NOMEM, "out of memory");
            goto fail;
        }
        if (nmodels == 1) printf("%s\n", s[0]);
        else printf("{\"models\":[%s,%s],\"model_sha256\":[\"%s\",\"%s\"],\"comparison\":%s}\n", s[0], s[1],
                    mr[0].sha, mr[1].sha, s[2]);
        for (int k = 0; k < 3; k++) free(s[k]);
    } else {
        for (int k = 0; k < nmodels; k++) {
            const model_run *r = &mr[k];
            const pn_metrics *m = &r->res.m;
            const char *pos = r->c.meta.class_names[r->pos], *neg = r->c.meta.class_names[1 - r->pos];
            int flat = pn_dataset_is_flat(ds);
            printf("%smodel %s on %s%s%s: %zu images, threshold %.4f on P(%s) (%s)\n", k ? "\n" : "",
                   r->path, data, flat ? "" : "/", flat ? "" : pn_split_name(split), r->ev.n, r->thr,
                   pos, r->thr_src);
            if (r->chose)
                printf("  caution: this split chose the threshold, so the metrics below are "
                       "optimistic (not an independent estimate)\n");
            row("accuracy", m->accuracy, m->accuracy_ci, 1, "Wilson");
            row("sensitivity", m->sensitivity, m->sensitivity_ci, 1, "Wilson");
            row("specificity", m->specificity, m->specificity_ci, 1, "Wilson");
            row("PPV", m->ppv, m->ppv_ci, 1, "Wilson");
            row("NPV", m->npv, m->npv_ci, 1, "Wilson");
            row("F1", m->f1, (pn_ci){NAN, NAN}, 0, NULL);
            if (isfinite(m->auc)) row("ROC AUC", m->auc, m->auc_ci, 0, "DeLong");
            else printf("%-12s    n/a (one class only)\n", "ROC AUC");
            printf("confusion    predicted %s / %s\n", neg, pos);
            printf("  true %-9s %6zu %6zu\n", neg, m->tn, m->fp);
            printf("  true %-9s %6zu %6zu\n", pos, m->fn, m->tp);
            if (boot_n) pn_cli_print_bootstrap("bootstrap", &r->boot);
        }
        if (nmodels == 2) {
            printf("\nDeLong's paired test, %s vs %s on the same %zu images (%zu positive, %zu "
                   "negative):\n",
                   mr[0].name, mr[1].name, mr[0].ev.n, cmp.npos, cmp.nneg);
            if (isfinite(cmp.p))
                printf("  AUC %.4f vs %.4f, difference %+.4f (95%% CI %+.4f to %+.4f), z %.3f, "
                       "two-sided p %.4g\n",
                       cmp.auc_a, cmp.auc_b, cmp.diff, cmp.diff_ci.lo, cmp.diff_ci.hi, cmp.z,
                       cmp.p);
            else
                printf("  undefined: it needs at least two images of each class\n");
        }
        if (mr[0].ev.cache_hits && !co.quiet)
            fprintf(stderr, "pneumo eval: %zu of %zu images' features read from the cache\n",
                    mr[0].ev.cache_hits, mr[0].ev.cache_hits + mr[0].ev.cache_misses);
    }
    if (out) {
        if (pn_mkdirs(out, &err)) goto fail;
        char s_boot[32], s_seed[32], thr_txt[160], man[65];
        snprintf(s_boot, sizeof s_boot, "%ld", boot_n);
        snprintf(s_seed, sizeof s_seed, "%ld", seed);
        pn_hex(mr[0].ev.manifest_sha256, 32, man);
        const char *settings[] = {"command", "eval", "model", mr[0].path, "model_sha256", mr[0].sha,
                                  "model_b", nmodels == 2 ? mr[1].path : NULL,
                                  "model_b_sha256", nmodels == 2 ? mr[1].sha : NULL, NULL};
        /* the settings list: key, value pairs (model_b only with two models) */
        const char *kv[40];
        int nkv = 0;
        for (int i = 0; settings[i]; i += 2)
            if (settings[i + 1]) kv[nkv++] = settings[i], kv[nkv++] = settings[i + 1];
        const char *more[] = {"data", data, "split", pn_split_name(split), "data_manifest_sha256", man,
                              "bootstrap", s_boot, "seed", s_seed,
                              "bf16", co.bf16 ? "yes" : "no", "fast_decode", co.fast_decode ? "yes" : "no",
                              "skip_bad", co.skip_bad ? "yes" : "no", NULL};
        for (int i = 0; more[i]; i += 2) kv[nkv++] = more[i], kv[nkv++] = more[i + 1];
        kv[nkv] = NULL;
        snprintf(thr_txt, sizeof thr_txt, "%s", mr[0].thr_src);
        pn_split_result sr[2];
        char srn[2][300];
        for (int k = 0; k < nmodels; k++) {
            sr[k] = mr[k].res;
            snprintf(srn[k], sizeof srn[k], "%s %s (%s)", pn_split_name(split), k ? "B" : "A",
                     mr[k].name);
            if (nmodels == 2) sr[k].name = srn[k];
        }
        snprintf(audit.weights_sha256, sizeof audit.weights_sha256, "%s", mr[0].sha);
        if (nmodels == 2) snprintf(audit.weights_b_sha256, sizeof audit.weights_b_sha256, "%s", mr[1].sha);
        snprintf(audit.data_manifest_sha256, sizeof audit.data_manifest_sha256, "%s", man);
        /* class counts: the data set's splits, the evaluated one as scored (--skip-bad) */
        if (!pn_dataset_stats_get(ds, &audit.counts, &err)) {
            for (int c = 0; c < 2; c++) audit.counts.count[split][c] = 0;
            for (size_t i = 0; i < mr[0].ev.n; i++)
                if (mr[0].ev.labels[i] == 0 || mr[0].ev.labels[i] == 1)
                    audit.counts.count[split][mr[0].ev.labels[i]]++;
            audit.counts.total[split] = mr[0].ev.n;
            size_t a0 = audit.counts.count[split][0], a1 = audit.counts.count[split][1];
            audit.counts.imbalance[split] = a0 && a1 ? (double)(a0 > a1 ? a0 : a1) / (double)(a0 > a1 ? a1 : a0) : 0;
            audit.has_counts = 1;
        }
        err.msg[0] = 0;
        pn_run_report rep = {.classes = 2, .class_names = names2, .settings = kv,
                             .threshold = mr[0].thr, .threshold_source = thr_txt, .splits = sr,
                             .nsplits = nmodels, .title = "pneumo evaluation report",
                             .compare = nmodels == 2 ? &cmp : NULL,
                             .compare_a = mr[0].path, .compare_b = nmodels == 2 ? mr[1].path : NULL,
                             .temperature = mr[0].c.temperature, .audit = &audit};
        if (pn_write_run_outputs(out, &rep, &err)) goto fail;
        if (!json)
            printf("wrote %s/{predictions.csv,metrics.json,confusion.png,roc.png,calibration.png,"
                   "classes.png,report.html}\n", out);
    }
    rc = 0;
    goto done;
fail:
    pn_cli_progress_clear(&u.bar);
    rc = pn_cli_fail(cmd, &err);
done:
    for (int k = 0; k < 2; k++) {
        pn_split_result_free(&mr[k].res);
        pn_eval_probs_free(&mr[k].ev);
        free(mr[k].p1);
        pn_classifier_free(&mr[k].c);
    }
    if (ds) pn_dataset_free(ds);
    return rc;
}
