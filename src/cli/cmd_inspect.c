/* pneumo inspect: what a weights file holds (format, tensors, metadata,
 * whether it is a ResNet-18). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pneumo/util.h"
#include "pneumo/weights.h"

static void inspect_usage(FILE *f)
{
    fprintf(f,
            "usage: pneumo inspect [--quiet] FILE\n"
            "\n"
            "Lists the tensors (name, dtype in the file, shape) and metadata of a .pth\n"
            "(zip or legacy) or safetensors file, and checks it against torchvision's\n"
            "ResNet-18 layout; for a model file pneumo wrote, the SHA-256 of its tensors\n"
            "(checked on every read). Exit status 1 when the file cannot be read.\n"
            "\n"
            "  -q, --quiet   summary only, no tensor list\n"
            "      --no-verify  read a model file whose recorded SHA-256 no longer matches\n"
            "  -h, --help    this help\n");
}

int pn_cmd_inspect(int argc, char **argv)
{
    pn_cli_parser ps;
    pn_cli_opts co = {0};
    pn_cli_parser_init(&ps, "inspect", "", NULL, PN_OPT_QUIET | PN_OPT_HELP | PN_OPT_NO_VERIFY);
    int c;
    while ((c = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        if (c == PN_CLI_HELP) {
            inspect_usage(stdout);
            return 0;
        }
        return 2;
    }
    int quiet = co.quiet;
    if (optind + 1 != argc) return pn_cli_usage_error("inspect", "give exactly one FILE");
    const char *path = argv[optind];
    pn_statedict sd;
    pn_error err = {0};
    uint8_t head[16] = {0};
    if (pn_weights_load(path, &sd, &err)) return pn_cli_fail("inspect", &err);
    /* the file is known to be a regular file now (a FIFO would block fopen) */
    FILE *f = fopen(path, "rb");
    size_t nh = f ? fread(head, 1, sizeof head, f) : 0;
    if (f) fclose(f);
    size_t params = 0;
    for (size_t i = 0; i < sd.n; i++) params += sd.t[i].numel;
    printf("%s: %s, %zu tensors, %zu values\n", path,
           pn_weights_format_name(pn_weights_detect(head, nh)), sd.n, params);
    if (!quiet) {
        for (size_t i = 0; i < sd.n; i++) {
            char b[160];
            printf("  %-40s %-8s %s\n", sd.t[i].name, pn_dtype_name(sd.t[i].file_dtype),
                   pn_shape_str(sd.t[i].ndim, sd.t[i].shape, b, sizeof b));
        }
    }
    for (size_t i = 0; i < sd.nmeta; i++) printf("  meta %s = %s\n", sd.meta[i].key, sd.meta[i].value);
    const char *q = pn_statedict_get_meta(&sd, "pneumo.int8.accuracy");
    if (q) { /* written by pneumo quantize (src/eval/quantize.c) */
        const char *cs = pn_statedict_get_meta(&sd, "pneumo.int8.calibration");
        const char *fs = pn_statedict_get_meta(&sd, "pneumo.int8.format");
        cJSON *a = cJSON_Parse(q), *cal = cJSON_Parse(cs ? cs : "{}");
#define NUM(o, k) (cJSON_IsNumber(cJSON_GetObjectItem(o, k)) ? cJSON_GetObjectItem(o, k)->valuedouble : NAN)
        printf("int8: format %s, calibrated on %.0f training images; on %.0f val+test images vs "
               "fp32: max |dP| %.5f, mean |dP| %.5f, %.0f flipped, ROC AUC %.5f -> %.5f\n",
               fs ? fs : "?", NUM(cal, "images"), NUM(a, "images"), NUM(a, "max_abs_dp"),
               NUM(a, "mean_abs_dp"), NUM(a, "flipped"), NUM(a, "auc_fp32"), NUM(a, "auc_int8"));
#undef NUM
        cJSON_Delete(a);
        cJSON_Delete(cal);
    }
    const char *th = pn_statedict_get_meta(&sd, "pneumo.tensors_sha256");
    if (th)
        printf("integrity: tensors SHA-256 %s, %s\n", th,
               co.no_verify ? "not checked (--no-verify)" : "verified");
    else if (pn_statedict_get_meta(&sd, "pneumo.format_version"))
        printf("integrity: no SHA-256 recorded (written by an older pneumo)\n");
    const char *fmt = pn_statedict_get_meta(&sd, "format");
    if (fmt && !strcmp(fmt, "pneumo-checkpoint")) {
        const char *ep = pn_statedict_get_meta(&sd, "epochs_done"),
                   *fz = pn_statedict_get_meta(&sd, "freeze");
        printf("pneumo training checkpoint: %s epoch(s) done, --freeze %s, %s classes; not a "
               "model: continue its run with 'pneumo train --resume --out <its folder>' (the "
               "model is the folder's model.safetensors)\n",
               ep ? ep : "?", fz ? fz : "?", pn_statedict_get_meta(&sd, "classes") ? pn_statedict_get_meta(&sd, "classes") : "?");
        pn_statedict_free(&sd);
        return 0;
    }
    int classes = 0;
    if (pn_resnet18_check(&sd, 0, 0, &classes, &err) == PN_OK)
        printf("ResNet-18: yes, %d classes\n", classes);
    else
        printf("ResNet-18: no: %s\n", err.msg);
    pn_statedict_free(&sd);
    return 0;
}
