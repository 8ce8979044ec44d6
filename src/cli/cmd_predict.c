/* pneumo predict --model M [--json] [--cam DIR] IMAGE|DIR...: one line per
 * image, optionally a class activation map PNG per image. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "pneumo/predict.h"
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
            "  -h, --help           this help\n"
            "\n"
            "Every image that can be read is printed; each one that cannot (missing,\n"
            "unreadable, not an image) is reported on stderr with the reason.\n"
            "Exit status: 0 when every image was classified, 1 if any failed (the others\n"
            "are still printed), 2 on a usage error.\n");
}

/* JPEG/PNG/DICOM by name (or DICOM by content), and the image formats
 * pneumo does not read, so that they are reported rather than skipped. */
static int is_image_name(const char *path)
{
    return pn_image_file_classify(path, NULL) != PN_FILE_NOT_IMAGE;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct path_list {
    char **v;
    size_t n, cap;
} path_list;

static void list_free(path_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* appends dir/name (name NULL: dir itself) */
static pn_status list_add(path_list *l, const char *dir, const char *name, pn_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return pn_error_set(err, PN_E_NOMEM, "out of memory");
        l->v = nv;
        l->cap = cap;
    }
    size_t len = strlen(dir) + (name ? strlen(name) + 1 : 0) + 1;
    char *p = malloc(len);
    if (!p) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    if (name) snprintf(p, len, "%s/%s", dir, name);
    else snprintf(p, len, "%s", dir);
    l->v[l->n++] = p;
    return PN_OK;
}

/* The images under dir, walked recursively (hidden entries skipped; the
 * entries of each folder in byte order, so chest_xray/test gives NORMAL/...
 * then PNEUMONIA/...). A folder that cannot be read is reported on stderr
 * and counted in *bad; only out of memory is an error. */
static pn_status walk(const char *dir, int depth, path_list *out, int *bad, pn_error *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "pneumo predict: %s: cannot open folder: %s\n", dir, strerror(errno));
        *bad = 1;
        return PN_OK;
    }
    path_list ents = {0};
    pn_status st = PN_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)))
        if (e->d_name[0] != '.') st = list_add(&ents, dir, e->d_name, err);
    closedir(d);
    if (ents.n) qsort(ents.v, ents.n, sizeof *ents.v, cmp_str);
    for (size_t i = 0; i < ents.n && !st; i++) {
        struct stat sb;
        if (stat(ents.v[i], &sb)) continue; /* a dangling link: not an image we were asked for */
        if (S_ISDIR(sb.st_mode)) {
            if (depth < 32) st = walk(ents.v[i], depth + 1, out, bad, err);
        } else if (is_image_name(ents.v[i]) && S_ISREG(sb.st_mode)) {
            st = list_add(out, ents.v[i], NULL, err);
        }
    }
    list_free(&ents);
    return st;
}

/* Expand the arguments into image paths: files as given (a missing one is
 * kept, so that it is reported in its place), folders walked. A folder
 * without any image is reported on stderr and counted in *bad. */
static pn_status collect(char **args, int nargs, path_list *out, int *bad, pn_error *err)
{
    pn_status st = PN_OK;
    for (int a = 0; a < nargs && !st; a++) {
        struct stat sb;
        if (stat(args[a], &sb) || !S_ISDIR(sb.st_mode)) {
            st = list_add(out, args[a], NULL, err);
            continue;
        }
        size_t before = out->n;
        int unreadable = 0;
        st = walk(args[a], 0, out, &unreadable, err);
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
    long threads = 0;
    double thr = -1;
    int json = 0, bf16 = 0;
    pn_decode_opts dopt = {0};
    enum { O_JSON = 256, O_CAM, O_THR, O_BF16, O_FAST };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"json", no_argument, 0, O_JSON},
        {"cam", required_argument, 0, O_CAM}, {"threshold", required_argument, 0, O_THR},
        {"threads", required_argument, 0, 'j'}, {"bf16", no_argument, 0, O_BF16},
        {"fast-decode", no_argument, 0, O_FAST}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, ":m:j:h", opts, NULL)) != -1) {
        switch (ch) {
        case 'm': model = optarg; break;
        case O_JSON: json = 1; break;
        case O_CAM: cam_dir = optarg; break;
        case O_THR: if (pn_cli_parse_double(cmd, "--threshold", optarg, 0, 1, &thr)) return 2; break;
        case 'j': if (pn_cli_parse_int(cmd, "--threads", optarg, 1, 256, &threads)) return 2; break;
        case O_BF16: bf16 = 1; break;
        case O_FAST: dopt.fast_decode = 1; break;
        case 'h': help(stdout); return 0;
        default: return pn_cli_option_error(cmd, ch, argv, opts);
        }
    }
    if (!model) return pn_cli_usage_error(cmd, "--model is required");
    if (optind >= argc) return pn_cli_usage_error(cmd, "give at least one IMAGE or folder");
    pn_error err = {0};
    path_list files = {0};
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
    x = malloc(3 * 224 * 224 * sizeof *x);
    l4 = malloc(512 * 7 * 7 * sizeof *l4);
    if (!x || !l4) {
        pn_error_set(&err, PN_E_NOMEM, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < files.n; i++) {
        const char *file = files.v[i];
        pn_error e = {0};
        if (pn_image_load(file, &dopt, &img, &e) ||
            pn_preprocess(&img, 224, x, NULL, &scratch, &e) ||
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
            if (pn_classifier_cam_png(&c, l4, 7, 7, k, &img, png, &e)) {
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
    list_free(&files);
    free(x);
    free(l4);
    pn_image_free(&img);
    pn_prep_scratch_free(&scratch);
    pn_classifier_free(&c);
    return rc;
}
