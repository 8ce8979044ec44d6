/* pneumo predict --model M [--json] [--cam DIR] IMAGE|DIR...: one line per
 * image, optionally a class activation map PNG per image. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "pneumo/dataset.h"
#include "pneumo/eval.h"
#include "pneumo/util.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo predict --model M [--json] [--cam DIR] IMAGE|DIR...\n"
            "\n"
            "Classifies each image and prints one line per image: path, label, P(label).\n"
            "A folder stands for every .jpg/.jpeg/.png/.dcm file in it and in its\n"
            "subfolders, and every DICOM file without an extension (recognised by\n"
            "content); .tif/.bmp/.webp files are reported, not read (walked\n"
            "recursively in sorted order, hidden entries skipped), so\n"
            "chest_xray/test classifies test/NORMAL/* then test/PNEUMONIA/*; a folder\n"
            "without any image is an error. M is a model from 'pneumo train' or a\n"
            "torchvision ResNet-18 state_dict (.pth or safetensors) with a 2-output head\n"
            "(classes NORMAL, PNEUMONIA). The label uses the model's threshold on\n"
            "P(PNEUMONIA) (0.5 for a plain state_dict) unless --threshold is given.\n"
            "\n"
            "  -m, --model M        model file\n"
            "      --json           one JSON object per line: file, label, probs (class order)\n"
            "      --cam DIR        write DIR/<name>_cam.png: the class activation map of the\n"
            "                       predicted class over the image (jet colours)\n"
            "      --threshold T    decision threshold on P(PNEUMONIA)\n"
            "  -j, --threads N      threads (default: all cores)\n"
            "      --bf16           bfloat16 backbone\n"
            "      --fast-decode    JPEG DCT-domain downscaling (faster, not bit-exact)\n"
            "      --png16 MODE     16-bit grayscale PNGs: scale (default) or clip (Pillow)\n"
            "  -h, --help           this help\n"
            "\n"
            "Every image that can be read is printed; each one that cannot (missing,\n"
            "unreadable, not an image) is reported on stderr with the reason.\n"
            "Exit status: 0 when every image was classified, 1 if any failed (the others\n"
            "are still printed), 2 on a usage error.\n");
}

/* Expand the arguments into image paths: files as given (a missing one is
 * kept, so that it is reported in its place), folders walked. A folder
 * without any image is reported on stderr and counted in *bad. */
static pn_status collect(char **args, int nargs, pn_path_list *out, int *bad, pn_error *err)
{
    pn_status st = PN_OK;
    for (int a = 0; a < nargs && !st; a++) {
        struct stat sb;
        if (stat(args[a], &sb) || !S_ISDIR(sb.st_mode)) {
            st = pn_path_list_add(out, args[a], NULL, err);
            continue;
        }
        size_t before = out->n, unreadable = 0;
        pn_bad_list why = {0};
        st = pn_list_images(args[a], out, &why, &unreadable, err);
        for (size_t i = 0; i < why.n; i++) fprintf(stderr, "pneumo predict: %s\n", why.v[i].reason);
        pn_bad_list_free(&why);
        if (!st && out->n == before && !unreadable)
            fprintf(stderr,
                    "pneumo predict: %s: no .jpg/.jpeg/.png files, nor DICOM files (nor in "
                    "its subfolders)\n",
                    args[a]);
        if (out->n == before || unreadable) *bad = 1;
    }
    return st;
}

int pn_cmd_predict(int argc, char **argv)
{
    const char *cmd = "predict", *model = NULL, *cam_dir = NULL;
    double thr = -1;
    enum { O_CAM = 256, O_THR };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"cam", required_argument, 0, O_CAM},
        {"threshold", required_argument, 0, O_THR}, {0, 0, 0, 0}};
    pn_cli_parser ps;
    pn_cli_opts co = {.threads = 0};
    pn_cli_parser_init(&ps, cmd, "m:", opts,
                       PN_OPT_HELP | PN_OPT_JSON | PN_OPT_THREADS | PN_OPT_BF16 |
                           PN_OPT_FAST_DECODE | PN_OPT_PNG16);
    int ch;
    while ((ch = pn_cli_getopt(&ps, argc, argv, &co)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case O_CAM: cam_dir = optarg; break;
        case O_THR: if (pn_cli_parse_double(cmd, "--threshold", optarg, 0, 1, &thr)) return 2; break;
        case PN_CLI_HELP: help(stdout); return 0;
        default: return 2;
        }
    }
    long threads = co.threads;
    int json = co.json, bf16 = co.bf16;
    pn_decode_opts dopt = {.fast_decode = co.fast_decode};
    pn_cli_data dd; /* --png16 */
    if (pn_cli_data_init(&dd, cmd, &co, &dopt)) return 2;
    if (!model) return pn_cli_usage_error(cmd, "--model is required");
    if (optind >= argc) return pn_cli_usage_error(cmd, "give at least one IMAGE or folder");
    pn_error err = {0};
    pn_path_list files = {0};
    pn_classifier c = {0};
    pn_image img = {0};
    pn_prep_scratch scratch = {0};
    float *x = NULL, *l4 = NULL, probs[64];
    int failed = 0, rc = 1;
    if (collect(argv + optind, argc - optind, &files, &failed, &err)) goto fail;
    if (cam_dir && pn_mkdirs(cam_dir, &err)) goto fail;
    if (pn_classifier_open(&c, model, 1, (int)threads, bf16, cam_dir != NULL, &err)) goto fail;
    if (c.classes > 64) {
        pn_error_set(&err, PN_E_UNSUPPORTED, "%s: %d classes", model, c.classes);
        goto fail;
    }
    if (thr < 0) thr = c.meta.threshold;
    x = malloc((size_t)3 * c.size * c.size * sizeof *x);
    l4 = malloc((size_t)512 * c.cam_h * c.cam_w * sizeof *l4);
    if (!x || !l4) {
        pn_error_set(&err, PN_E_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < files.n; i++) {
        const char *file = files.v[i];
        pn_error e = {0};
        if (pn_image_load(file, &dopt, &img, &e) ||
            pn_preprocess(&img, c.size, x, NULL, &scratch, &e) ||
            pn_classifier_run(&c, x, 1, probs, cam_dir ? l4 : NULL, &e)) {
            /* reported in its place; the other images are still classified */
            if (strstr(e.msg, file)) fprintf(stderr, "pneumo predict: %s\n", e.msg);
            else fprintf(stderr, "pneumo predict: %s: %s\n", file, e.msg);
            failed = 1;
            continue;
        }
        int k = pn_classifier_decide(&c, probs, thr);
        if (json) {
            cJSON *o = cJSON_CreateObject(), *pa = cJSON_CreateArray();
            cJSON_AddStringToObject(o, "file", file);
            cJSON_AddStringToObject(o, "label", c.meta.class_names[k]);
            for (int q = 0; q < c.classes; q++) cJSON_AddItemToArray(pa, cJSON_CreateNumber(probs[q]));
            cJSON_AddItemToObject(o, "probs", pa);
            char *s = cJSON_PrintUnformatted(o);
            if (s) printf("%s\n", s);
            free(s);
            cJSON_Delete(o);
        } else {
            printf("%s\t%s\t%.4f\n", file, c.meta.class_names[k], probs[k]);
        }
        if (cam_dir) {
            const char *base = strrchr(file, '/');
            base = base ? base + 1 : file;
            char stem[1024], png[4096];
            snprintf(stem, sizeof stem, "%s", base);
            char *dot = strrchr(stem, '.');
            if (dot) *dot = 0;
            snprintf(png, sizeof png, "%s/%s_cam.png", cam_dir, stem);
            if (pn_classifier_cam_png(&c, l4, c.cam_h, c.cam_w, k, &img, png, &e)) {
                fprintf(stderr, "pneumo predict: %s\n", e.msg);
                failed = 1;
            }
        }
        fflush(stdout);
    }
    rc = failed;
    goto done;
fail:
    rc = pn_cli_fail(cmd, &err);
done:
    pn_path_list_free(&files);
    free(x);
    free(l4);
    pn_image_free(&img);
    pn_prep_scratch_free(&scratch);
    pn_classifier_free(&c);
    return rc;
}
