/* pneumo bench: ResNet-18 forward images/s (fp32, bf16; 1 thread and all
 * cores) on the inference engine, training-step images/s per freeze level
 * and peak RSS. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench_run.h"
#include "cli.h"
#include "infer/synthetic.h"
#include "pneumo/infer.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo bench [options]\n"
            "\n"
            "Times the ResNet-18 forward pass of the inference engine (synthetic\n"
            "weights, BN folded, 2 classes) and one training step\n"
            "(cross-entropy + Adam) per freeze level on the trainable model;\n"
            "prints images/s per workload and the peak resident memory. Run\n"
            "bench/bench_engine.sh (make bench) for the comparison with PyTorch.\n"
            "\n"
            "options:\n"
            "  --batch N       images per batch (default 32)\n"
            "  --threads N     only this thread count (default: 1 and all cores)\n"
            "  --iters K       timed batches per workload, after one warm-up (default 5)\n"
            "  --size N        input height and width (default 224)\n"
            "  --dtype D       fp32, bf16 or both (default both)\n"
            "  --no-train      skip the training-step workloads (freeze fc, layer4,\n"
            "                  layer3, none; all cores)\n"
            "  --json          one JSON object on stdout instead of the table\n"
            "  -h, --help      this help\n");
}

static long peak_rss_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

int pn_cmd_bench(int argc, char **argv)
{
    const char *cmd = "bench";
    static const struct option opts[] = {
        {"batch", required_argument, 0, 'b'}, {"threads", required_argument, 0, 't'},
        {"iters", required_argument, 0, 'i'}, {"size", required_argument, 0, 's'},
        {"dtype", required_argument, 0, 'd'}, {"json", no_argument, 0, 'j'},
        {"no-train", no_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    long batch = 32, threads = 0, iters = 5, size = 224;
    int json = 0, train = 1, do_fp32 = 1, do_bf16 = 1, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (pn_cli_parse_int(cmd, "--batch", optarg, 1, 1024, &batch)) return 2;
            break;
        case 't':
            if (pn_cli_parse_int(cmd, "--threads", optarg, 1, 1024, &threads)) return 2;
            break;
        case 'i':
            if (pn_cli_parse_int(cmd, "--iters", optarg, 1, 10000, &iters)) return 2;
            break;
        case 's':
            if (pn_cli_parse_int(cmd, "--size", optarg, 32, 1024, &size)) return 2;
            break;
        case 'd':
            if (!strcmp(optarg, "fp32")) do_fp32 = 1, do_bf16 = 0;
            else if (!strcmp(optarg, "bf16")) do_fp32 = 0, do_bf16 = 1;
            else if (!strcmp(optarg, "both")) do_fp32 = do_bf16 = 1;
            else return pn_cli_usage_error(cmd, "--dtype wants fp32, bf16 or both, not '%s'", optarg);
            break;
        case 'j': json = 1; break;
        case 'T': train = 0; break;
        case 'h': help(stdout); return 0;
        default: return pn_cli_usage_error(cmd, "unknown option");
        }
    }
    if (optind < argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

    pn_error err = {0};
    pn_statedict sd;
    if (pn__resnet18_synthetic(&sd, 2, &err) != PN_OK) return pn_cli_fail(cmd, &err);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int tlist[2] = {1, (int)(ncpu > 0 ? ncpu : 1)}, nt = tlist[1] > 1 ? 2 : 1;
    if (threads) tlist[0] = (int)threads, nt = 1;

    if (json)
        printf("{\"batch\": %ld, \"size\": %ld, \"iters\": %ld, \"results\": [", batch, size, iters);
    else
        printf("ResNet-18 forward, batch %ld, %ldx%ld, median of %ld batches\n", batch, size,
               size, iters);
    int first = 1, rc = 0;
    for (int d = 0; d < 2 && rc == 0; d++) {
        if ((d == 0 && !do_fp32) || (d == 1 && !do_bf16)) continue;
        for (int k = 0; k < nt; k++) {
            pn_infer_config cfg = pn_infer_config_default();
            cfg.max_batch = (int)batch, cfg.height = cfg.width = (int)size;
            cfg.threads = tlist[k], cfg.bf16 = d, cfg.stop = PN_STAGE_LOGITS;
            pn__bench_result r;
            if (pn__bench_infer(&sd, &cfg, (int)iters, &r, &err) != PN_OK) {
                rc = pn_cli_fail(cmd, &err);
                break;
            }
            const char *dt = d ? (r.bf16 ? "bf16" : "bf16->fp32") : "fp32";
            if (json)
                printf("%s\n  {\"workload\": \"forward\", \"dtype\": \"%s\", \"threads\": %d, "
                       "\"img_per_s\": %.2f, \"cpu_s_per_img\": %.5f}",
                       first ? "" : ",", dt, tlist[k], r.img_per_s, r.cpu_s_per_img);
            else
                printf("  forward %-10s threads %-2d %8.1f img/s %9.4f cpu-s/img\n", dt, tlist[k],
                       r.img_per_s, r.cpu_s_per_img);
            fflush(stdout);
            first = 0;
        }
    }
    double rss_fwd = peak_rss_kb() / 1024.0;
    // training step per freeze level (the trainable model), at the largest thread count
    static const char *const levels[4] = {"fc", "layer4", "layer3", "none"};
    for (int k = 0; train && rc == 0 && k < 4; k++) {
        pn__bench_result r;
        int tt = tlist[nt - 1];
        pn_status st = pn__bench_train(&sd, levels[k], (int)batch, (int)size, tt, (int)iters, &r,
                                       &err);
        if (st == PN_E_UNSUPPORTED) {
            if (!json) printf("  (training step: %s)\n", err.msg);
            break;
        }
        if (st != PN_OK) {
            rc = pn_cli_fail(cmd, &err);
            break;
        }
        if (json)
            printf("%s\n  {\"workload\": \"train_step\", \"freeze\": \"%s\", \"dtype\": \"fp32\", "
                   "\"threads\": %d, \"img_per_s\": %.2f, \"cpu_s_per_img\": %.5f}",
                   first ? "" : ",", levels[k], tt, r.img_per_s, r.cpu_s_per_img);
        else
            printf("  train step %-7s threads %-2d %8.1f img/s %9.4f cpu-s/img\n", levels[k], tt,
                   r.img_per_s, r.cpu_s_per_img);
        fflush(stdout);
        first = 0;
    }
    double rss = peak_rss_kb() / 1024.0;
    if (json)
        printf("\n], \"peak_rss_forward_mb\": %.1f, \"peak_rss_mb\": %.1f}\n", rss_fwd, rss);
    else
        printf("  peak RSS %.1f MB after the forward workloads, %.1f MB in all\n", rss_fwd, rss);
    pn_statedict_free(&sd);
    return rc;
}
