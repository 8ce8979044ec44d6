/* pneumo quantize --model M --data DATA -o M.int8.safetensors: int8
 * post-training quantization (pn_quantize_model) and its measured cost. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "pneumo/eval.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo quantize --model M --data DATA -o OUT [options]\n"
            "\n"
            "Post-training int8 quantization of model M for --int8 (eval, predict, serve):\n"
            "BatchNorm folded, weights s8 per output channel (scale max|w|/127),\n"
            "activations u8/s8 per tensor with ranges calibrated on training images of\n"
            "DATA (largest |value| seen), residual add + ReLU fused as in the fp32 engine.\n"
            "Then the accuracy cost is measured on every val and test image of DATA:\n"
            "max and mean |dP(class 1)| against fp32, decisions flipped, ROC AUC change.\n"
            "OUT is M plus the calibration and that report in its metadata ('pneumo.int8.*',\n"
            "shown by 'pneumo inspect'); it keeps the fp32 weights, so it also runs fp32.\n"
            "\n"
            "  -m, --model M        model file (from 'pneumo train')\n"
            "  -d, --data DATA      folder, .zip or .npz with train and val/test splits\n"
            "  -o, --out OUT        quantized model file to write\n"
            "      --calib N        calibration images from the train split (default 128,\n"
            "                       at least %d, spread evenly over the split)\n"
            "      --batch N        batch size (default 16)\n"
            "  -j, --threads N      threads (default: all cores)\n"
            "      --json           the report as one JSON object on stdout\n"
            "  -h, --help           this help\n",
            PN_QUANT_MIN_IMAGES);
}

static void num(const char *k, double v, int last)
{
    if (isfinite(v)) printf("  \"%s\": %.6g%s\n", k, v, last ? "" : ",");
    else printf("  \"%s\": null%s\n", k, last ? "" : ",");
}

int pn_cmd_quantize(int argc, char **argv)
{
    const char *cmd = "quantize", *model = NULL, *data = NULL, *out = NULL;
    enum { O_CALIB = 256 };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"data", required_argument, 0, 'd'},
        {"out", required_argument, 0, 'o'},   {"calib", required_argument, 0, O_CALIB},
        {0, 0, 0, 0}};
    pn_quant_opts qo;
    pn_quant_opts_default(&qo);
    pn_cli_parser ps;
    pn_cli_opts co = {.threads = 0, .batch = qo.batch};
    pn_cli_parser_init(&ps, cmd, "m:d:o:", opts,
                       PN_OPT_HELP | PN_OPT_JSON | PN_OPT_THREADS | PN_OPT_BATCH);
    long calib = qo.calib_images;
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case 'd': data = optarg; break;
        case 'o': out = optarg; break;
        case O_CALIB:
            if (pn_cli_parse_int(cmd, "--calib", optarg, PN_QUANT_MIN_IMAGES, 100000, &calib))
                return 2;
            break;
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    if (optind != argc) return pn_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model || !data || !out)
        return pn_cli_usage_error(cmd, "--model, --data and --out are required");
    qo.calib_images = (int)calib;
    qo.batch = (int)co.batch;
    qo.threads = (int)co.threads;
    pn_error err = {0};
    pn_dataset *ds = NULL;
    pn_quant_report r;
    if (pn_dataset_open(data, &ds, &err) || pn_quantize_model(model, ds, &qo, out, &r, &err)) {
        if (ds) pn_dataset_free(ds);
        return pn_cli_fail(cmd, &err);
    }
    pn_dataset_free(ds);
    if (co.json) {
        printf("{\n  \"model\": \"%s\",\n  \"out\": \"%s\",\n", model, out);
        num("calib_images", (double)r.calib_images, 0);
        num("images", (double)r.images, 0);
        num("max_abs_dp", r.max_dp, 0);
        num("mean_abs_dp", r.mean_dp, 0);
        num("flipped", (double)r.flipped, 0);
        num("auc_fp32", r.auc_fp32, 0);
        num("auc_int8", r.auc_int8, 0);
        num("delta_auc", r.auc_int8 - r.auc_fp32, 0);
        num("fp32_img_per_s", r.seconds_fp32 > 0 ? r.images / r.seconds_fp32 : NAN, 0);
        num("int8_img_per_s", r.seconds_int8 > 0 ? r.images / r.seconds_int8 : NAN, 1);
        printf("}\n");
        return 0;
    }
    printf("int8 calibration: %ld training images of %s\n", r.calib_images, data);
    printf("accuracy cost on %zu val+test images (int8 vs fp32):\n", r.images);
    printf("  max |dP(class 1)|   %.5f\n  mean |dP(class 1)|  %.5f\n", r.max_dp, r.mean_dp);
    printf("  decisions flipped   %zu of %zu\n", r.flipped, r.images);
    if (isfinite(r.auc_fp32) && isfinite(r.auc_int8))
        printf("  ROC AUC             %.5f fp32, %.5f int8 (change %+.5f)\n", r.auc_fp32,
               r.auc_int8, r.auc_int8 - r.auc_fp32);
    else
        printf("  ROC AUC             n/a (needs 2 classes and both labels)\n");
    if (r.seconds_fp32 > 0 && r.seconds_int8 > 0)
        printf("  engine speed        %.1f img/s fp32, %.1f img/s int8 (batch %d)\n",
               r.images / r.seconds_fp32, r.images / r.seconds_int8, qo.batch);
    printf("wrote %s\n", out);
    return 0;
}
