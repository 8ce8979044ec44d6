/* pneumo train --data DATA --weights W [--out DIR] [options]: the seed's
 * recipe (frozen ResNet-18 features, new Linear head, Adam) or, with
 * --freeze layer4|layer3|none, deeper fine-tuning; cached features, class
 * balance, a real validation set, metrics, plots, report. */
#include <cJSON.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "cli/progress.h"
#include "core/files.h"
#include "pneumo/app.h"
#include "pneumo/model.h"
#include "pneumo/util.h"
#include "pneumo/fetch.h"
#include "pneumo/weights.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo train [--data DATA] [--weights W] [--out DIR] [options]\n"
            "\n"
            "Trains a NORMAL/PNEUMONIA classifier on ResNet-18 from W (torchvision .pth or\n"
            "safetensors): a new Linear(512, classes) head initialised as nn.Linear,\n"
            "cross-entropy, Adam. By default (--freeze fc) only the head trains, the seed\n"
            "notebook's way: the backbone is frozen with BatchNorm in eval mode, each image\n"
            "passes it once, its 512-d feature is cached (also on disk, so a second run\n"
            "skips the backbone) and the epochs run on the cache. --freeze layer4|layer3|none\n"
            "also trains layer4, layer3+layer4 or the whole network (BatchNorm in training\n"
            "mode there), from the cached activation at that boundary.\n"
            "\n"
            "  -d, --data DATA        folder (train/ val/ test/ with class folders), .zip or .npz;\n"
            "                         default: the Kaggle data set from 'pneumo fetch dataset'\n"
            "                         (downloaded first when it is not there)\n"
            "  -w, --weights W        ResNet-18 weights (.pth or .safetensors); default:\n"
            "                         torchvision's resnet18-f37072fd.pth ('pneumo fetch weights');\n"
            "                         none: from scratch, torchvision's init (kaiming normal\n"
            "                         fan_out convs, BatchNorm 1/0) from --seed; --freeze none\n"
            "  -o, --out DIR          outputs (default runs/<date-time>/, a new folder each\n"
            "                         run; DIR is locked while the run lives)\n"
            "      --epochs N         default 5\n"
            "      --batch N          default 32\n"
            "      --lr X             (base) learning rate, default 1e-3\n"
            "      --optimizer adam|adamw|sgd   torch.optim's Adam (default), AdamW or SGD\n"
            "      --weight-decay X   L2 for adam/sgd (added to the gradient), decoupled for\n"
            "                         adamw; default 0 (adamw: 0.01, torch's default)\n"
            "      --momentum X       SGD momentum (default 0); --nesterov: Nesterov momentum\n"
            "      --lr-schedule S    per epoch: constant (default), step:E1,E2,...:GAMMA (x GAMMA\n"
            "                         after epochs E1, E2, ...), cosine (to 0 at the end), or\n"
            "                         plateau[:PATIENCE[:FACTOR]] (x FACTOR, default 0.1, after\n"
            "                         PATIENCE, default 10, epochs without a lower val loss)\n"
            "      --warmup N         N epochs of linear warmup from lr/(N+1) (torch's LinearLR)\n"
            "      --select R         the model saved: last (default), best:val_loss or\n"
            "                         best:val_auc (that epoch's weights; needs validation)\n"
            "      --patience N       stop after N epochs without a new best (--select best:*)\n"
            "      --augment LIST     train on augmented images, torchvision's transforms in this\n"
            "                         order: crop[:SMIN-SMAX[:RMIN-RMAX]] (RandomResizedCrop),\n"
            "                         rotate:DEG (RandomRotation, bilinear), translate:FX[:FY]\n"
            "                         (RandomAffine), brightness:B, contrast:C (ColorJitter),\n"
            "                         hflip[:P] (RandomHorizontalFlip; never by default: the heart\n"
            "                         is on the left, a flipped film is anatomically wrong);\n"
            "                         'default' = crop:0.7-1,rotate:10,translate:0.05,\n"
            "                         brightness:0.2,contrast:0.2. Every image changes every\n"
            "                         epoch, so the backbone runs every step (no feature cache:\n"
            "                         much slower than the cached recipe); images are decoded\n"
            "                         once and kept in memory\n"
            "      --seed S           head init and shuffling (torch.manual_seed), default 0\n"
            "  -j, --threads N        threads (default: all cores)\n"
            "      --freeze fc|layer4|layer3|none   what trains besides fc: nothing (default;\n"
            "                         pooled features cached), layer4 (layer3 output cached),\n"
            "                         layer3+layer4 (layer2 output cached), or everything\n"
            "      --balance weight|sample|none     class imbalance: loss weights N/(C*n_c)\n"
            "                         (default), balanced sampling, or the seed's plain loss\n"
            "      --val-split F      carve a validation set (fraction F) from train, grouped\n"
            "                         by patient and stratified; val/ is then not used\n"
            "      --threshold auto|T decision threshold on P(PNEUMONIA): Youden's J on\n"
            "                         validation, or T (default 0.5); also chosen on\n"
            "                         validation: sens=X (sensitivity >= X, the best\n"
            "                         specificity), spec=X (specificity >= X), ppv=X\n"
            "                         (PPV >= X); validation's metrics are then optimistic\n"
            "      --calibrate        temperature scaling: one T fitted on validation (NLL),\n"
            "                         stored in the model and applied by eval/predict/export\n"
            "      --bootstrap N      also a stratified percentile bootstrap (N resamples,\n"
            "                         seeded by --seed) of the final val and test metrics,\n"
            "                         F1 included, as 'pneumo eval --bootstrap' gives\n"
            "      --bf16             bfloat16 compute (faster, not bit-exact): the frozen\n"
            "                         backbone's feature pass and, with --freeze layer4|layer3|\n"
            "                         none, the trainable convs (fp32 master weights and\n"
            "                         optimiser state, as PyTorch's CPU autocast); needs\n"
            "                         AVX512-BF16, else fp32 with a notice; the checkpoint\n"
            "                         records it, so --resume of a bf16 run needs --bf16\n"
            "      --int8             int8 frozen backbone for the feature pass (weights from\n"
            "                         'pneumo quantize', or calibrated on 64 training images)\n"
            "      --fast-decode      JPEG DCT-domain downscaling (faster, not bit-exact)\n"
            "      --skip-bad         leave unreadable images (and bad --labels rows) out,\n"
            "                         listed, instead of stopping\n"
            "      --png16 scale|clip 16-bit grayscale PNGs: scaled by their sBIT depth\n"
            "                         (default) or clipped as Pillow (over 255 is white)\n"
            "      --positive CLASS   the class sensitivity and the threshold refer to\n"
            "                         (default PNEUMONIA; data without it must name one)\n"
            "%s"
            "      --resume           continue from DIR/checkpoint.safetensors after its\n"
            "                         last epoch (same options, any --freeze; an error when\n"
            "                         there is none)\n"
            "      --force            replace the results of an earlier run in DIR (a DIR\n"
            "                         that holds files is refused otherwise)\n"
            "      --keep-checkpoint yes|no  keep DIR/checkpoint.safetensors after a finished\n"
            "                         run (default yes; a deep run's is as big as the model\n"
            "                         plus Adam's two moments)\n"
            "      --no-cache         do not read or write the disk feature cache\n"
            "      --lenient-jpeg     decode JPEGs libjpeg recovered from corrupt data (as\n"
            "                         Pillow does; by default they are refused as corrupt)\n"
            "      --no-verify        accept a pneumo model file as --weights whose recorded\n"
            "                         SHA-256 no longer matches\n"
            "      --no-shuffle       keep the file order every epoch (parity checks)\n"
            "  -h, --help             this help\n"
            "\n"
            "Outputs in DIR: model.safetensors, metrics.json, predictions.csv, curves.png,\n"
            "confusion.png, roc.png, report.html, checkpoint.safetensors (and, with --select\n"
            "best:*, checkpoint-best.safetensors). Ctrl-C stops after the current batch; the\n"
            "last finished epoch's checkpoint is kept for --resume, which continues the\n"
            "schedule, the best-so-far and the patience count as an unbroken run would.\n"
            "With --labels, DATA is the image folder and the CSV gives labels, patients\n"
            "(for --val-split) and splits; predictions.csv then has patient_id and\n"
            "sop_uid columns (also for DICOM data).\n",
            PN_CLI_LABELS_HELP);
}

static volatile int g_stop;
static void on_sigint(int sig)
{
    if (g_stop) { /* second Ctrl-C: stop now */
        signal(sig, SIG_DFL);
        raise(sig);
    }
    g_stop = 1;
}

typedef struct ui {
    int epochs;
    double t0;
    pn_cli_progress feat;  /* the feature pass, one job per split */
    pn_cli_progress batch; /* an epoch's batches: a live bar on a terminal, else nothing */
    const char *what;      /* split of the feature job in progress */
    int resume_note;       /* --resume: say where it resumed at the first epoch */
    const char *out;
    int epoch;             /* epoch of the batch job in progress */
    char feat_label[48], batch_label[48];
} ui;

static void ui_log(const char *msg, void *user)
{
    ui *u = user;
    pn_cli_progress_note(&u->feat, NULL, msg);
}

static void ui_progress(const char *what, size_t done, size_t total, void *user)
{
    ui *u = user;
    if (!total) return;
    if (u->what != what) { /* a new split */
        u->what = what;
        snprintf(u->feat_label, sizeof u->feat_label, "  features %s", what);
        pn_cli_progress_begin(&u->feat, u->feat_label, "images", 0);
    }
    pn_cli_progress_update(&u->feat, (int64_t)done, (int64_t)total);
    if (done == total) pn_cli_progress_end(&u->feat, (int64_t)done, (int64_t)total, NULL);
}

static void ui_batch(int epoch, size_t done, size_t total, void *user)
{
    ui *u = user;
    if (u->epoch != epoch) {
        u->epoch = epoch;
        snprintf(u->batch_label, sizeof u->batch_label, "  epoch %d/%d", epoch, u->epochs);
        pn_cli_progress_begin(&u->batch, u->batch_label, "images", 0);
    }
    pn_cli_progress_update(&u->batch, (int64_t)done, (int64_t)total);
}

static void ui_epoch(const pn_epoch_stats *s, void *user)
{
    ui *u = user;
    pn_cli_progress_clear(&u->batch);
    if (u->resume_note) {
        u->resume_note = 0;
        printf("resumed %s/checkpoint.safetensors after epoch %d\n", u->out, s->epoch - 1);
    }
    char val[96] = "val -";
    if (isfinite(s->val_loss))
        snprintf(val, sizeof val, "val loss %.4f acc %5.1f%%", s->val_loss, 100 * s->val_acc);
    char auc[32] = "";
    if (isfinite(s->val_auc)) snprintf(auc, sizeof auc, " auc %.4f", s->val_auc);
    printf("epoch %d/%d  train loss %.4f acc %5.1f%%  %s%s  lr %.3g  %.2fs\n", s->epoch,
           u->epochs, s->train_loss, 100 * s->train_acc, val, auc, s->lr, s->seconds);
    fflush(stdout);
}

/* The command to run again after an interrupt, exactly: the arguments as
 * given (shell-quoted), --out when the folder was the default one, and
 * --resume when a checkpoint is kept. */
static void print_rerun(int argc, char **argv, const char *out, int add_out, int add_resume)
{
    fprintf(stderr, "to continue: pneumo train");
    for (int i = 1; i <= argc; i++) {
        const char *a = i < argc ? argv[i] : NULL;
        if (i == argc) {
            if (add_out) fprintf(stderr, " --out");
            else break;
            a = out;
        }
        if (a[0] && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                              "-_./=:,+@%") == strlen(a)) {
            fprintf(stderr, " %s", a);
        } else {
            fputs(" '", stderr);
            for (const char *c = a; *c; c++)
                if (*c == '\'') fputs("'\\''", stderr);
                else fputc(*c, stderr);
            fputc('\'', stderr);
        }
    }
    fprintf(stderr, "%s\n", add_resume ? " --resume" : "");
}

/* No --data / --weights: use what `pneumo fetch` installed (or kagglehub's /
 * PyTorch's caches), downloading it first when it is not there yet. Returns
 * 0 with the path in buf, or prints why not and what supplies it. */
static int fetch_default(const char *cmd, int dataset, char *buf, size_t n)
{
    pn_error err = {0};
    pn_fetch_opts fo;
    pn_fetch_opts_init(&fo);
    pn_cli_progress bar; /* the download's progress, drawn by the CLI */
    pn_cli_progress_init(&bar, PN_CLI_AUTO);
    fo.progress = pn_cli_fetch_progress;
    fo.progress_user = &bar;
    fprintf(stderr, "no %s given: using %s\n", dataset ? "--data" : "--weights",
            dataset ? "Kaggle's " PN_KAGGLE_DATASET " (fetched if needed)"
                    : "torchvision's " PN_WEIGHTS_FILE " (fetched if needed)");
    pn_status st = dataset ? pn_fetch_dataset(&fo, buf, n, &err) : pn_fetch_weights(&fo, buf, n, &err);
    if (st == PN_OK) return 0;
    /* the message already says which command or option supplies it */
    fprintf(stderr, "pneumo %s: %s\n", cmd, err.msg);
    return 1;
}

int pn_cmd_train(int argc, char **argv)
{
    const char *cmd = "train", *data = NULL, *weights = NULL, *out = NULL;
    const char *freeze = "fc", *threshold = "0.5";
    int calibrate = 0;
    static pn_audit audit; /* before getopt reorders argv */
    pn_audit_init(&audit, argc, argv);
    long epochs = 5, seed = 0, boot_n = 0;
    double lr = 1e-3, val_split = 0;
    int resume = 0, no_cache = 0, shuffle = 1, force = 0, keep_ckpt = 1;
    pn_balance balance = PN_BALANCE_WEIGHT;
    enum { O_EPOCHS = 256, O_LR, O_SEED, O_FREEZE, O_BALANCE, O_VALSPLIT, O_THR, O_CALIBRATE, O_RESUME,
           O_NOCACHE, O_NOSHUFFLE, O_OPTIM, O_WD, O_MOMENTUM, O_NESTEROV, O_SCHED, O_WARMUP,
           O_SELECT, O_PATIENCE, O_AUGMENT, O_FORCE, O_KEEPCK, O_BOOT };
    static const struct option opts[] = {
        {"data", required_argument, 0, 'd'},     {"weights", required_argument, 0, 'w'},
        {"out", required_argument, 0, 'o'},      {"epochs", required_argument, 0, O_EPOCHS},
        {"lr", required_argument, 0, O_LR},      {"seed", required_argument, 0, O_SEED},
        {"freeze", required_argument, 0, O_FREEZE}, {"balance", required_argument, 0, O_BALANCE},
        {"val-split", required_argument, 0, O_VALSPLIT}, {"threshold", required_argument, 0, O_THR}, {"calibrate", no_argument, 0, O_CALIBRATE},
        {"resume", no_argument, 0, O_RESUME},    {"no-cache", no_argument, 0, O_NOCACHE},
        {"no-shuffle", no_argument, 0, O_NOSHUFFLE}, {"optimizer", required_argument, 0, O_OPTIM},
        {"weight-decay", required_argument, 0, O_WD}, {"momentum", required_argument, 0, O_MOMENTUM},
        {"nesterov", no_argument, 0, O_NESTEROV}, {"lr-schedule", required_argument, 0, O_SCHED},
        {"warmup", required_argument, 0, O_WARMUP}, {"select", required_argument, 0, O_SELECT},
        {"patience", required_argument, 0, O_PATIENCE}, {"augment", required_argument, 0, O_AUGMENT},
        {"force", no_argument, 0, O_FORCE},
        {"keep-checkpoint", required_argument, 0, O_KEEPCK},
        {"bootstrap", required_argument, 0, O_BOOT},
        {0, 0, 0, 0}};
    pn_augment augment = {0};
    pn_optim optim = {0};
    int wd_given = 0;
    long warmup = 0, patience = 0;
    const char *sched = "constant";
    pn_select_kind select = PN_SELECT_LAST;
    pn_error err = {0};
    pn_cli_parser ps;
    pn_cli_opts co = {.threads = 0, .batch = 32};
    pn_cli_parser_init(&ps, cmd, "d:w:o:", opts,
                       PN_OPT_HELP | PN_OPT_THREADS | PN_OPT_BATCH | PN_OPT_BF16 | PN_OPT_INT8 |
                           PN_OPT_FAST_DECODE | PN_OPT_SKIP_BAD | PN_OPT_LABELS | PN_OPT_PNG16 |
                           PN_OPT_POSITIVE |
                           PN_OPT_NO_VERIFY | PN_OPT_LENIENT_JPEG);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (ch) {
        case 'd': data = optarg; break;
        case 'w': weights = optarg; break;
        case 'o': out = optarg; break;
        case O_EPOCHS: if (pn_cli_parse_int(cmd, "--epochs", optarg, 1, 100000, &epochs)) return 2; break;
        case O_LR: if (pn_cli_parse_double(cmd, "--lr", optarg, 1e-12, 10, &lr)) return 2; break;
        case O_SEED: if (pn_cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffL, &seed)) return 2; break;
        case O_FREEZE: freeze = optarg; break;
        case O_BALANCE:
            if (pn_balance_parse(optarg, &balance, &err)) return pn_cli_usage_error(cmd, "%s", err.msg);
            break;
        case O_VALSPLIT:
            if (pn_cli_parse_double(cmd, "--val-split", optarg, 1e-6, 0.9, &val_split)) return 2;
            break;
        case O_THR: threshold = optarg; break;
        case O_CALIBRATE: calibrate = 1; break;
        case O_RESUME: resume = 1; break;
        case O_NOCACHE: no_cache = 1; break;
        case O_NOSHUFFLE: shuffle = 0; break;
        case O_OPTIM:
            if (pn_optimizer_parse(optarg, &optim.kind))
                return pn_cli_usage_error(cmd, "--optimizer wants adam, adamw or sgd, not '%s'",
                                          optarg);
            break;
        case O_WD:
            if (pn_cli_parse_double(cmd, "--weight-decay", optarg, 0, 10, &optim.weight_decay))
                return 2;
            wd_given = 1;
            break;
        case O_MOMENTUM:
            if (pn_cli_parse_double(cmd, "--momentum", optarg, 0, 0.999999, &optim.momentum))
                return 2;
            break;
        case O_NESTEROV: optim.nesterov = 1; break;
        case O_SCHED: sched = optarg; break;
        case O_WARMUP: if (pn_cli_parse_int(cmd, "--warmup", optarg, 0, 100000, &warmup)) return 2; break;
        case O_SELECT:
            if (pn_select_parse(optarg, &select, &err)) return pn_cli_usage_error(cmd, "%s", err.msg);
            break;
        case O_AUGMENT:
            if (pn_augment_parse(optarg, &augment, &err)) return pn_cli_usage_error(cmd, "%s", err.msg);
            break;
        case O_PATIENCE:
            if (pn_cli_parse_int(cmd, "--patience", optarg, 0, 100000, &patience)) return 2;
            break;
        case O_FORCE: force = 1; break;
        case O_BOOT: if (pn_cli_parse_int(cmd, "--bootstrap", optarg, 1, 1000000, &boot_n)) return 2; break;
        case O_KEEPCK:
            if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
                return pn_cli_usage_error(cmd, "--keep-checkpoint wants yes or no, not '%s'", optarg);
            keep_ckpt = !strcmp(optarg, "yes");
            break;
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    long batch = co.batch, threads = co.threads;
    int bf16 = co.bf16, fast = co.fast_decode, skip_bad = co.skip_bad;
    if (optind != argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    pn_cli_data dd;
    pn_decode_opts dec = {0};
    if (pn_cli_data_init(&dd, cmd, &co, &dec)) return 2;
    if (dd.labels && !data) return pn_cli_usage_error(cmd, "--labels needs --data IMAGE_FOLDER");
    char data_buf[4096], weights_buf[4096];
    if (!data && fetch_default(cmd, 1, data_buf, sizeof data_buf)) return 1;
    if (!data) data = data_buf;
    int scratch = weights && !strcmp(weights, "none");
    if (scratch && strcmp(freeze, "none") && strcmp(freeze, "all"))
        return pn_cli_usage_error(cmd, "--weights none (torchvision's random initialisation) "
                                       "trains from scratch: it needs --freeze none");
    if (!weights && fetch_default(cmd, 0, weights_buf, sizeof weights_buf)) return 1;
    if (!weights) weights = weights_buf;
    pn_freeze fz;
    if (pn_freeze_parse(freeze, &fz))
        return pn_cli_usage_error(cmd, "--freeze wants fc, layer4, layer3 or none, not '%s'", freeze);
    if (optim.kind == PN_OPT_ADAMW && !wd_given) optim.weight_decay = 1e-2; /* torch's default */
    pn_lr_schedule schedule = {.warmup = (int)warmup};
    if (pn_lr_schedule_parse(sched, &schedule, &err)) return pn_cli_usage_error(cmd, "%s", err.msg);
    if (pn_lr_schedule_check(&schedule, (int)epochs, 1, &err) ||
        pn_optim_check(&optim, &err))
        return pn_cli_usage_error(cmd, "%s", err.msg);
    if (patience && select == PN_SELECT_LAST)
        return pn_cli_usage_error(cmd, "--patience needs --select best:val_loss or best:val_auc");
    const int augmenting = pn_augment_active(&augment);
    int thr_auto = !strcmp(threshold, "auto") || strchr(threshold, '=') || !strcmp(threshold, "youden");

    double thr = 0.5;
    pn_op_rule thr_rule = {PN_OP_YOUDEN, NAN};
    if (thr_auto && pn_op_rule_parse(threshold, &thr_rule, &err))
        return pn_cli_usage_error(cmd, "--threshold: %s", err.msg);
    if (!thr_auto && pn_cli_parse_double(cmd, "--threshold", threshold, 0, 1, &thr)) return 2;
    char outbuf[256];
    int default_out = !out;

    int rc = 1;
    pn_dataset *ds = NULL;
    pn_statedict sd;
    pn_statedict_init(&sd);
    pn_infer_extractor ix = {0};
    pn_recipe rcp = {0};
    char *tjson = NULL;
    pn_train_summary sum = {0};
    pn_augment_items aug_items = {0};
    uint8_t wh[32];
    char whex[65];
    if (pn_cli_data_open(&dd, cmd, data, &ds, &err)) goto fail;
    int C = pn_dataset_num_classes(ds);
    if (C != 2) {
        pn_error_set(&err, PN_E_ARG,
                     "%s has %d class folder(s); training needs two (NORMAL and PNEUMONIA)", data,
                     C);
        goto fail;
    }
    if (scratch) { /* torchvision's random init from --seed: no weights file */
        memset(wh, 0, sizeof wh);
        snprintf(whex, sizeof whex, "none");
    } else {
        if (pn_weights_load(weights, &sd, &err)) goto fail;
        if (pn_resnet18_check(&sd, C, PN_R18_HEAD_OPTIONAL, NULL, &err)) {
            pn_error_prefix(&err, "%s: ", weights);
            goto fail;
        }
        if (pn_sha256_file(weights, wh, &err)) goto fail;
        pn_hex(wh, 32, whex);
    }
    if (pn_recipe_init(&rcp, fz, scratch ? NULL : &sd, (uint64_t)seed, augmenting, C, (int)batch,
                       (int)threads, bf16, &err)) {
        pn_error_prefix(&err, "%s: ", weights);
        goto fail;
    }
    char train_notice[sizeof err.msg]; /* the model's bf16 fallback notice, if any */
    snprintf(train_notice, sizeof train_notice, "%s", rcp.model && bf16 ? err.msg : "");
    err.msg[0] = 0;
    const int bf16_train = pn_model_is_bf16(rcp.model);
    if (pn_infer_extractor_init(&ix, ds, &sd, wh, rcp.stage, (int)batch, (int)threads,
                                bf16 | (co.int8 ? PN_INFER_INT8 : 0),
                                fast, skip_bad, &err))
        goto fail;
    pn_infer_extractor_set_decode(&ix, &dec);
    pn_dataset_source src; /* the positive class (--positive, default PNEUMONIA) is class 1 */
    if (pn_dataset_source_init_positive(&src, ds, co.positive, &err)) {
        pn_error_prefix(&err, "%s: ", data);
        goto fail;
    }

    char s_epochs[32], s_batch[32], s_lr[32], s_seed[32], s_vs[32], s_thr[32];
    snprintf(s_epochs, sizeof s_epochs, "%ld", epochs);
    snprintf(s_batch, sizeof s_batch, "%ld", batch);
    snprintf(s_lr, sizeof s_lr, "%g", lr);
    snprintf(s_seed, sizeof s_seed, "%ld", seed);
    snprintf(s_vs, sizeof s_vs, "%g", val_split);
    snprintf(s_thr, sizeof s_thr, "%s", threshold);
    char s_sched[256], s_opt[128], s_sel[64], s_aug[256];
    pn_augment_describe(&augment, s_aug, sizeof s_aug);
    pn_lr_schedule_describe(&schedule, s_sched, sizeof s_sched);
    snprintf(s_opt, sizeof s_opt, "%s weight_decay %g%s%s", pn_optimizer_name(optim.kind),
             optim.weight_decay, optim.kind == PN_OPT_SGD ? (optim.momentum ? " momentum" : "") : "",
             optim.nesterov ? " nesterov" : "");
    if (optim.kind == PN_OPT_SGD && optim.momentum) {
        size_t l = strlen(s_opt);
        snprintf(s_opt + l, sizeof s_opt - l, " %g", optim.momentum);
    }
    snprintf(s_sel, sizeof s_sel, "%s%s%ld", pn_select_name(select), patience ? " patience " : "",
             patience ? patience : 0L);
    if (!patience) snprintf(s_sel, sizeof s_sel, "%s", pn_select_name(select));
    const char *settings[] = {"data", data, "weights", weights, "weights_sha256", whex,
                              "epochs", s_epochs, "batch", s_batch, "lr", s_lr, "seed", s_seed,
                              "freeze", freeze, "balance", pn_balance_name(balance),
                              "val_split", s_vs, "threshold", s_thr,
                              "bf16", pn_infer_is_bf16(ix.engine) ? "yes" : "no",
                              "fast_decode", fast ? "yes" : "no", "shuffle", shuffle ? "yes" : "no",
                              "optimizer", s_opt, "lr_schedule", s_sched, "select", s_sel,
                              "augment", s_aug,
                              "calibrate", calibrate ? "yes" : "no",
                              NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    /* only when given, so that the default outputs stay as they were (5 pairs
     * at most, and the NULL that ends the list) */
    size_t ns = sizeof settings / sizeof *settings - 11;
    char s_boot[32];
    snprintf(s_boot, sizeof s_boot, "%ld", boot_n);
    if (boot_n) settings[ns++] = "bootstrap", settings[ns++] = s_boot;
    if (bf16 && rcp.model && fz != PN_FREEZE_FC)
        settings[ns++] = "bf16_train", settings[ns++] = bf16_train ? "yes" : "no";
    if (dd.labels) settings[ns++] = "labels", settings[ns++] = dd.labels;
    if (co.png16) settings[ns++] = "png16", settings[ns++] = pn_png16_name(dec.png16);
    if (co.positive) settings[ns++] = "positive", settings[ns++] = src.class_names[1];
    pn_train_config cfg;
    pn_train_config_default(&cfg);
    cfg.fit.bf16 = bf16_train;
    cfg.fit.optim = optim;
    cfg.fit.schedule = schedule;
    cfg.fit.select = select;
    cfg.fit.patience = (int)patience;
    pn_augment_items_init(&aug_items, &augment, PN_IMAGE_SIZE);
    if (augmenting) {
        cfg.fit.augment = pn_augment_items_run;
        cfg.fit.augment_ctx = &aug_items;
        cfg.fit.augment_key = aug_items.key;
    }
    tjson = pn_cli_training_json(epochs, batch, lr, seed, freeze, balance, val_split, threshold,
                          pn_infer_is_bf16(ix.engine), fast, shuffle, &cfg.fit);
    if (!tjson) {
        pn_error_set(&err, PN_E_NOMEM, "out of memory");
        goto fail;
    }

    if (default_out && pn_cli_new_run_dir("runs", outbuf, sizeof outbuf, &err)) goto fail;
    if (default_out) out = outbuf;
    printf("pneumo train: seed %ld, %ld epochs, batch %ld, %s lr %g, freeze %s, balance %s\n",
           seed, epochs, batch, optim.kind == PN_OPT_ADAM ? "Adam" : optim.kind == PN_OPT_ADAMW ? "AdamW" : "SGD",
           lr, freeze, pn_balance_name(balance));
    if (optim.kind || optim.weight_decay || schedule.kind || schedule.warmup || select || patience)
        printf("  optimizer %s (weight decay %g, momentum %g%s), lr schedule %s, select %s%s\n",
               pn_optimizer_name(optim.kind), optim.weight_decay, optim.momentum,
               optim.nesterov ? ", nesterov" : "", s_sched, pn_select_name(select),
               patience ? " with early stopping" : "");
    if (augmenting)
        printf("  augment %s: each epoch sees new random versions of the images, so the "
               "backbone runs every step (the feature cache cannot apply)\n", s_aug);
    if (bf16_train)
        printf("  bf16 training: the trainable convs run in bfloat16 (fp32 master weights, batch "
               "norm, head and %s state, as PyTorch's CPU autocast)\n",
               pn_optimizer_name(optim.kind));
    else if (train_notice[0])
        printf("  %s\n", train_notice);
    printf("  data %s (%s): %zu train, %zu val, %zu test; classes %s, %s\n", data,
           pn_dataset_kind(ds), pn_dataset_count(ds, PN_SPLIT_TRAIN),
           pn_dataset_count(ds, PN_SPLIT_VAL), pn_dataset_count(ds, PN_SPLIT_TEST),
           src.class_names[0], src.class_names[1]);
    printf("  weights %s (sha256 %.12s), threads %d%s; out %s\n", weights, whex,
           pn_infer_threads(ix.engine),
           pn_infer_is_bf16(ix.engine) ? ", bf16" : pn_infer_is_int8(ix.engine) ? ", int8 features" : "",
           out);
    fflush(stdout);

    ui u = {.epochs = (int)epochs, .t0 = pn_now(), .resume_note = resume, .out = out};
    pn_cli_progress_init(&u.feat, PN_CLI_AUTO);
    pn_cli_progress_init(&u.batch, u.feat.mode == PN_CLI_BAR ? PN_CLI_BAR : PN_CLI_QUIET);
    cfg.fit.epochs = (int)epochs;
    cfg.fit.batch = (int)batch;
    cfg.fit.lr = lr;
    cfg.fit.seed = (uint64_t)seed;
    cfg.fit.balance = balance;
    cfg.fit.resume = resume;
    cfg.fit.shuffle = shuffle;
    cfg.fit.on_epoch = ui_epoch;
    cfg.fit.on_batch = ui_batch;
    cfg.fit.user = &u;
    cfg.fit.cancel = &g_stop;
    cfg.val_split = val_split;
    cfg.threshold_auto = thr_auto;
    cfg.threshold_rule = thr_rule;
    cfg.calibrate = calibrate;
    cfg.bootstrap = (int)boot_n;
    snprintf(audit.weights_sha256, sizeof audit.weights_sha256, "%s", whex);
    cfg.audit = &audit;
    cfg.threshold = thr;
    cfg.out_dir = out;
    cfg.force = force;
    cfg.use_cache = !no_cache && rcp.use_cache;
    cfg.settings = settings;
    cfg.backbone = &sd;
    cfg.training_json = tjson;
    cfg.weights_sha256 = scratch ? NULL : whex; /* --weights none: no base file */
    cfg.model = rcp.model;
    cfg.log = ui_log;
    cfg.progress = ui_progress;
    cfg.user = &u;
    void (*old)(int) = signal(SIGINT, on_sigint);
    pn_status st = pn_train_run(&cfg, &src.src, &ix.ex, &sum, &err);
    signal(SIGINT, old);
    if (st) { /* the message goes on its own line, not after a live progress bar */
        pn_cli_progress_clear(&u.batch);
        if (u.feat.live) {
            fputc('\n', stderr);
            u.feat.live = 0;
        }
    }
    if (st == PN_E_INTERRUPTED) {
        rc = pn_cli_fail(cmd, &err);
        char ck[4200];
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", out);
        print_rerun(argc, argv, out, default_out, pn_path_exists(ck) && !resume);
        if (default_out) rmdir(out);
        goto done;
    }
    if (st) goto fail;
    if (resume && u.resume_note)
        printf("resumed %s/checkpoint.safetensors: all %ld epochs were done already\n", out,
               epochs);
    printf("threshold %.4f on P(%s)\n", sum.threshold, src.class_names[1]);
    if (calibrate)
        printf("temperature %.4f (fitted on validation: NLL %.4f -> %.4f), stored in the model\n",
               sum.temperature, sum.nll_before, sum.nll_after);
    printf("[95%% CI: Wilson; AUC: DeLong]\n");
    pn_cli_print_split_line("val", &sum.val, thr_auto);
    pn_cli_print_split_line("test", &sum.test, 0);
    if (sum.val_boot.reps) pn_cli_print_bootstrap("val bootstrap", &sum.val_boot);
    if (sum.test_boot.reps) pn_cli_print_bootstrap("test bootstrap", &sum.test_boot);
    { /* the checkpoint is only for --resume: say how big it is, or drop it */
        char ck[4200], sz[32];
        struct stat sb;
        snprintf(ck, sizeof ck, "%s/checkpoint.safetensors", out);
        if (!keep_ckpt) {
            if (unlink(ck) == 0) printf("checkpoint removed (--keep-checkpoint no)\n");
        } else if (stat(ck, &sb) == 0 && sb.st_size > (1 << 20)) {
            printf("checkpoint %s: %s, kept for --resume (--keep-checkpoint no drops it)\n", ck,
                   pn__fmt_bytes((double)sb.st_size, sz, sizeof sz));
        }
    }
    printf("done in %.1fs: %s/{model.safetensors,metrics.json,predictions.csv,report.html}\n",
           pn_now() - u.t0, out);
    rc = 0;
    goto done;
fail:
    rc = pn_cli_fail(cmd, &err);
    if (default_out && out) rmdir(out); /* the new run folder, when the run left it empty */
done:
    pn_train_summary_free(&sum);
    pn_augment_items_free(&aug_items);
    pn_infer_extractor_free(&ix);
    pn_recipe_free(&rcp);
    free(tjson);
    pn_statedict_free(&sd);
    if (ds) pn_dataset_free(ds);
    return rc;
}
