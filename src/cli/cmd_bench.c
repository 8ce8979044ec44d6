/* pneumo bench: ResNet-18 forward images/s (fp32, bf16, int8, Winograd; 1
 * thread and all cores; optionally beside a busy neighbour) on the
 * inference engine, training-step images/s per freeze level and peak RSS. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
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
            "  --dtype D       fp32, bf16, int8, winograd, a comma list, both (fp32,bf16;\n"
            "                  the default) or all\n"
            "                  (int8 is calibrated on the synthetic input; bf16 and\n"
            "                  winograd show as bf16->fp32 / winograd->fp32 where the CPU\n"
            "                  has no such kernels and fp32 ran instead)\n"
            "  --busy S        also time the all-cores fp32 and int8 forward (those of\n"
            "                  --dtype) while a\n"
            "                  process of ours spins on one core (at most S seconds per\n"
            "                  workload), with the static and the dynamic schedule\n"
            "  --no-train      skip the training-step workloads (freeze fc, layer4,\n"
            "                  layer3, none; all cores; with bf16 in --dtype also\n"
            "                  layer4, layer3, none with bf16 training, or bf16->fp32)\n"
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
        {"no-train", no_argument, 0, 'T'},    {"busy", required_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'},        {0, 0, 0, 0}};
    long batch = 32, threads = 0, iters = 5, size = 224, busy = 0;
    int json = 0, train = 1, c;
    int want[4] = {1, 1, 0, 0}; /* fp32, bf16, int8, winograd */
    static const char *const dnames[4] = {"fp32", "bf16", "int8", "winograd"};
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
        case 'd': {
            memset(want, 0, sizeof want);
            char buf[128];
            snprintf(buf, sizeof buf, "%s", optarg);
            for (char *sv = NULL, *t = strtok_r(buf, ",", &sv); t; t = strtok_r(NULL, ",", &sv)) {
                int k = 0;
                while (k < 4 && strcmp(t, dnames[k])) k++;
                if (k < 4) want[k] = 1;
                else if (!strcmp(t, "both")) want[0] = want[1] = 1;
                else if (!strcmp(t, "all")) want[0] = want[1] = want[2] = want[3] = 1;
                else
                    return pn_cli_usage_error(
                        cmd, "--dtype wants fp32, bf16, int8, winograd, both or all, not '%s'", t);
            }
            break;
        }
        case 'B':
            if (pn_cli_parse_int(cmd, "--busy", optarg, 1, 3600, &busy)) return 2;
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
    if (want[2] || busy) { /* int8: calibrated on the bench input itself */
        pn_infer_config cfg = pn_infer_config_default();
        cfg.max_batch = (int)batch, cfg.height = cfg.width = (int)size, cfg.threads = tlist[nt - 1];
        if (pn__bench_calibrate(&sd, &cfg, &err) != PN_OK) rc = pn_cli_fail(cmd, &err);
    }
    /* workloads: dtype x threads, then (--busy) fp32 and int8 at all cores beside a
     * spinning process, static and dynamic schedule */
    typedef struct wl { int d, threads, busy; const char *sched; } wl;
    wl w[32];
    int nw = 0;
    for (int d = 0; d < 4; d++)
        for (int k = 0; want[d] && k < nt; k++) w[nw++] = (wl){d, tlist[k], 0, NULL};
    for (int d = 0; busy && tlist[nt - 1] > 1 && d < 3; d += 2)
        for (int k = 0; want[d] && k < 2; k++)
            w[nw++] = (wl){d, tlist[nt - 1], 1, k ? "dynamic" : "static"};
    for (int i = 0; i < nw && rc == 0; i++) {
        pn_infer_config cfg = pn_infer_config_default();
        cfg.max_batch = (int)batch, cfg.height = cfg.width = (int)size;
        cfg.threads = w[i].threads, cfg.stop = PN_STAGE_LOGITS;
        cfg.bf16 = w[i].d == 1, cfg.int8 = w[i].d == 2, cfg.winograd = w[i].d == 3;
        const char *sched = w[i].sched ? w[i].sched
                            : w[i].threads > 1 && batch >= 8 && w[i].d != 3 ? "dynamic"
                                                                           : "static";
        setenv("PNEUMO_INFER_SCHEDULE", sched, 1);
        int pid = w[i].busy ? pn__bench_busy_start((int)busy) : 0;
        pn__bench_result r;
        pn_status st = pn__bench_infer(&sd, &cfg, (int)iters, &r, &err);
        pn__bench_busy_stop(pid);
        unsetenv("PNEUMO_INFER_SCHEDULE");
        if (st != PN_OK) {
            rc = pn_cli_fail(cmd, &err);
            break;
        }
        int ran = w[i].d == 0 || (w[i].d == 1 && r.bf16) || (w[i].d == 2 && r.int8) ||
                  (w[i].d == 3 && r.winograd);
        char dt[32];
        snprintf(dt, sizeof dt, "%s%s", dnames[w[i].d], ran ? "" : "->fp32");
        if (json)
            printf("%s\n  {\"workload\": \"forward\", \"dtype\": \"%s\", \"threads\": %d, "
                   "\"schedule\": \"%s\", \"busy\": %d, \"img_per_s\": %.2f, "
                   "\"cpu_s_per_img\": %.5f}",
                   first ? "" : ",", dt, w[i].threads, sched, w[i].busy, r.img_per_s,
                   r.cpu_s_per_img);
        else
            printf("  forward %-14s threads %-2d %-7s%s %8.1f img/s %9.4f cpu-s/img\n", dt,
                   w[i].threads, sched, w[i].busy ? " busy" : "     ", r.img_per_s,
                   r.cpu_s_per_img);
        fflush(stdout);
        first = 0;
    }
    double rss_fwd = peak_rss_kb() / 1024.0;
    // training step per freeze level (the trainable model), at the largest thread count
    // (fp32; with bf16 in --dtype also bf16 for the levels with trainable convs)
    static const char *const levels[4] = {"fc", "layer4", "layer3", "none"};
    for (int j = 0; train && rc == 0 && j < 7; j++) {
        int k = j < 4 ? j : j - 3, b16 = j >= 4;
        if (b16 && !want[1]) break;
        pn__bench_result r;
        int tt = tlist[nt - 1];
        pn_status st = pn__bench_train(&sd, levels[k], (int)batch, (int)size, tt, (int)iters, b16,
                                       &r, &err);
        if (st == PN_E_UNSUPPORTED) {
            if (!json) printf("  (training step: %s)\n", err.msg);
            break;
        }
        if (st != PN_OK) {
            rc = pn_cli_fail(cmd, &err);
            break;
        }
        const char *tdt = !b16 ? "fp32" : r.bf16 ? "bf16" : "bf16->fp32";
        if (json)
            printf("%s\n  {\"workload\": \"train_step\", \"freeze\": \"%s\", \"dtype\": \"%s\", "
                   "\"threads\": %d, \"img_per_s\": %.2f, \"cpu_s_per_img\": %.5f}",
                   first ? "" : ",", levels[k], tdt, tt, r.img_per_s, r.cpu_s_per_img);
        else
            printf("  train step %-7s threads %-2d %8.1f img/s %9.4f cpu-s/img%s%s\n", levels[k], tt,
                   r.img_per_s, r.cpu_s_per_img, b16 ? " " : "", b16 ? tdt : "");
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
