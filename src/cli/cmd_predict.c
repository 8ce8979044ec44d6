/* pneumo predict --model M [--json] [--cam DIR] IMAGE|DIR...: one line per
 * image, optionally a class activation map PNG per image. The images are
 * decoded by the parallel loader (all cores) into batches for the engine,
 * as in eval. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "dist/dist.h"
#include "eval/eval_internal.h"
#include "pneumo/dataset.h"
#include "pneumo/eval.h"
#include "pneumo/util.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: pneumo predict --model M [--json] [--cam DIR] IMAGE|DIR...\n"
            "\n"
            "Classifies each image. A folder stands for every .jpg/.jpeg/.png/.dcm file in\n"
            "it and in its subfolders, and every DICOM file without an extension\n"
            "(recognised by content); .tif/.bmp/.webp files are reported, not read\n"
            "(walked recursively in sorted order, hidden entries skipped), so\n"
            "chest_xray/test classifies test/NORMAL/* then test/PNEUMONIA/*; a folder\n"
            "without any image is an error. M is a model from 'pneumo train' or a\n"
            "torchvision ResNet-18 state_dict (.pth or safetensors) with a 2-output head\n"
            "(classes NORMAL, PNEUMONIA). The label uses the model's threshold on\n"
            "P(PNEUMONIA) (0.5 for a plain state_dict) unless --threshold is given.\n"
            "Images are decoded on all cores and classified in batches, as in eval.\n"
            "\n"
            "Output: a line '# threshold T on P(PNEUMONIA)', a header line, then one\n"
            "tab-separated row per image in argument order:\n"
            "  file  label  P(PNEUMONIA)  threshold\n"
            "(a model with more than 2 classes: file, label (the argmax), then P(class)\n"
            "for each class). With --json, one JSON object per line instead: file, label,\n"
            "probs and classes (class order), threshold, patient_id and\n"
            "sop_instance_uid for DICOM files that have them, cam (with --cam).\n"
            "\n"
            "  -m, --model M        model file\n"
            "      --json           one JSON object per line (see above)\n"
            "      --cam DIR        write a class activation map of the predicted class over\n"
            "                       each image (jet colours): DIR/<name>_cam.png for a file,\n"
            "                       DIR/<folder>/<subfolders>/<name>_cam.png for a file found\n"
            "                       in a folder argument (the input tree mirrored); a name\n"
            "                       already taken gets _2, _3, ... (nothing is overwritten)\n"
            "      --threshold T    decision threshold on P(PNEUMONIA)\n"
            "      --batch N        images per engine batch (default 32; fewer when there\n"
            "                       are fewer images)\n"
            "  -j, --threads N      threads (default: all cores)\n"
            "      --bf16           bfloat16 backbone\n"
            "      --int8           int8 backbone (M from 'pneumo quantize')\n"
            "      --fast-decode    JPEG DCT-domain downscaling (faster, not bit-exact)\n"
            "      --png16 MODE     16-bit grayscale PNGs: scale (default) or clip (Pillow)\n"
            "  -h, --help           this help\n"
            "\n"
            "Every image that can be read is printed; each one that cannot (missing,\n"
            "unreadable, not an image) is reported on stderr in its place, with the reason.\n"
            "Exit status: 0 when every image was classified, 1 if any failed (the others\n"
            "are still printed), 2 on a usage error.\n");
}

/* ---- inputs and CAM names ------------------------------------------------------ */

/* Per file: its name relative to the CAM folder ("x.jpeg" for a file
 * argument, "<folder>/<sub>/x.jpeg" for one found in a folder argument),
 * then (cam_paths) the unique output path. */
typedef struct cam_names {
    char **v;
    size_t n, cap;
} cam_names;

static void cam_names_free(cam_names *c)
{
    for (size_t i = 0; i < c->n; i++) free(c->v[i]);
    free(c->v);
    memset(c, 0, sizeof *c);
}

static pn_status cam_names_add(cam_names *c, char *s, pn_error *err)
{
    if (!s) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 64;
        char **nv = realloc(c->v, nc * sizeof *nv);
        if (!nv) {
            free(s);
            return pn_error_set(err, PN_E_NOMEM, "out of memory");
        }
        c->v = nv;
        c->cap = nc;
    }
    c->v[c->n++] = s;
    return PN_OK;
}

/* The last part of a folder argument ("data/test/" -> "test"; "." -> ""). */
static void folder_base(const char *dir, char *out, size_t cap)
{
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(out, cap, "%.*s", (int)(n - b), dir + b);
    if (!strcmp(out, ".") || !strcmp(out, "..") || !strcmp(out, "/")) out[0] = 0;
}

/* Expand the arguments into image paths: files as given (a missing one is
 * kept, so that it is reported in its place), folders walked. A folder
 * without any image is reported on stderr and counted in *bad. */
static pn_status collect(char **args, int nargs, pn_path_list *out, cam_names *rel, int *bad,
                         pn_error *err)
{
    pn_status st = PN_OK;
    for (int a = 0; a < nargs && !st; a++) {
        struct stat sb;
        if (stat(args[a], &sb) || !S_ISDIR(sb.st_mode)) {
            const char *base = strrchr(args[a], '/');
            st = pn_path_list_add(out, args[a], NULL, err);
            if (!st) st = cam_names_add(rel, strdup(base ? base + 1 : args[a]), err);
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
        char base[1024];
        folder_base(args[a], base, sizeof base);
        size_t dl = strlen(args[a]);
        for (size_t i = before; i < out->n && !st; i++) {
            /* the walker gives "<arg>/<sub>/x": keep "<base>/<sub>/x" */
            const char *p = out->v[i];
            const char *sub = strncmp(p, args[a], dl) ? p : p + dl;
            while (*sub == '/') sub++;
            size_t need = strlen(base) + strlen(sub) + 2;
            char *s = malloc(need);
            if (s) snprintf(s, need, "%s%s%s", base, base[0] ? "/" : "", sub);
            st = cam_names_add(rel, s, err);
        }
    }
    return st;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Turns each relative name into "<dir>/<rel without extension>_cam.png",
 * "..._2_cam.png" and so on when the name is taken (a hash set of the
 * paths given out). */
static pn_status cam_paths(cam_names *c, const char *dir, pn_error *err)
{
    size_t cap = 16;
    while (cap < 2 * c->n + 2) cap *= 2;
    char **set = calloc(cap, sizeof *set);
    if (!set) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    pn_status st = PN_OK;
    for (size_t i = 0; i < c->n && !st; i++) {
        char stem[4096], path[4096 + 64];
        snprintf(stem, sizeof stem, "%s", c->v[i]);
        char *dot = strrchr(stem, '.'), *slash = strrchr(stem, '/');
        if (dot && (!slash || dot > slash) && dot != stem && (!slash || dot != slash + 1)) *dot = 0;
        for (int k = 1;; k++) {
            if (k == 1) snprintf(path, sizeof path, "%s/%s_cam.png", dir, stem);
            else snprintf(path, sizeof path, "%s/%s_%d_cam.png", dir, stem, k);
            size_t h = (size_t)fnv1a(path) & (cap - 1);
            while (set[h] && strcmp(set[h], path)) h = (h + 1) & (cap - 1);
            if (set[h]) continue; /* taken */
            char *s = strdup(path);
            if (!s) {
                st = pn_error_set(err, PN_E_NOMEM, "out of memory");
                break;
            }
            set[h] = s;
            free(c->v[i]);
            c->v[i] = s;
            break;
        }
    }
    free(set); /* the strings live on in c */
    return st;
}

/* Creates the folders above a file path. */
static pn_status mkdirs_for(const char *file, pn_error *err)
{
    char d[4096];
    snprintf(d, sizeof d, "%s", file);
    char *slash = strrchr(d, '/');
    if (!slash || slash == d) return PN_OK;
    *slash = 0;
    return pn_mkdirs(d, err);
}

/* ---- output ----------------------------------------------------------------- */

/* The header of the text output: tab-separated, one row per image. With two
 * classes the column is P(<class 1>) (P(PNEUMONIA), what the threshold is
 * applied to), sortable by risk, and the threshold; otherwise every class's
 * probability (the label is the argmax). */
static void print_header(const pn_classifier *c, double thr)
{
    if (c->classes == 2) {
        printf("# threshold %.4f on P(%s)\n", thr, c->meta.class_names[1]);
        printf("file\tlabel\tP(%s)\tthreshold\n", c->meta.class_names[1]);
        return;
    }
    printf("file\tlabel");
    for (int q = 0; q < c->classes; q++) printf("\tP(%s)", c->meta.class_names[q]);
    printf("\n");
}

static void print_row(const pn_classifier *c, const pn_item *it, const float *probs, int k,
                      double thr, const char *cam, int json)
{
    if (!json) {
        printf("%s\t%s", it->name, c->meta.class_names[k]);
        if (c->classes == 2) printf("\t%.4f\t%.4f", probs[1], thr);
        else
            for (int q = 0; q < c->classes; q++) printf("\t%.4f", probs[q]);
        printf("\n");
        return;
    }
    cJSON *o = cJSON_CreateObject(), *pa = cJSON_CreateArray(), *ca = cJSON_CreateArray();
    cJSON_AddStringToObject(o, "file", it->name);
    cJSON_AddStringToObject(o, "label", c->meta.class_names[k]);
    for (int q = 0; q < c->classes; q++) {
        cJSON_AddItemToArray(pa, cJSON_CreateNumber(probs[q]));
        cJSON_AddItemToArray(ca, cJSON_CreateString(c->meta.class_names[q]));
    }
    cJSON_AddItemToObject(o, "probs", pa);
    cJSON_AddItemToObject(o, "classes", ca);
    if (c->classes == 2) cJSON_AddNumberToObject(o, "threshold", thr);
    else cJSON_AddNullToObject(o, "threshold");
    if (it->patient_id) cJSON_AddStringToObject(o, "patient_id", it->patient_id);
    if (it->sop_uid) cJSON_AddStringToObject(o, "sop_instance_uid", it->sop_uid);
    if (cam) cJSON_AddStringToObject(o, "cam", cam);
    char *s = cJSON_PrintUnformatted(o);
    if (s) printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void report_bad(const pn_bad_item *b) { fprintf(stderr, "pneumo predict: %s\n", b->reason); }

int pn_cmd_predict(int argc, char **argv)
{
    const char *cmd = "predict", *model = NULL, *cam_dir = NULL;
    double thr = -1;
    enum { O_CAM = 256, O_THR };
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"cam", required_argument, 0, O_CAM},
        {"threshold", required_argument, 0, O_THR}, {0, 0, 0, 0}};
    pn_cli_parser ps;
    pn_cli_opts co = {.threads = 0, .batch = 32};
    pn_cli_parser_init(&ps, cmd, "m:", opts,
                       PN_OPT_HELP | PN_OPT_JSON | PN_OPT_THREADS | PN_OPT_BATCH | PN_OPT_BF16 | PN_OPT_INT8 |
                           PN_OPT_FAST_DECODE | PN_OPT_PNG16 |
                           PN_OPT_NO_VERIFY | PN_OPT_LENIENT_JPEG);
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
    int threads = (int)co.threads, json = co.json;
    pn_decode_opts dopt = {.fast_decode = co.fast_decode};
    pn_cli_data dd; /* --png16 */
    if (pn_cli_data_init(&dd, cmd, &co, &dopt)) return 2;
    if (!model) return pn_cli_usage_error(cmd, "--model is required");
    if (optind >= argc) return pn_cli_usage_error(cmd, "give at least one IMAGE or folder");
    if (threads < 1) threads = (int)sysconf(_SC_NPROCESSORS_ONLN); /* 0 = all cores */
    if (threads < 1) threads = 1;
    pn_error err = {0};
    pn_path_list files = {0};
    cam_names names = {0};
    pn_dataset *ds = NULL;
    pn_loader *l = NULL;
    pn_classifier c = {0};
    pn_image img = {0};
    float *x = NULL, *l4 = NULL, *probs = NULL;
    size_t *idx = NULL;
    int failed = 0, rc = 1;
    /* under mpirun (docs/mpi.md): each rank runs its contiguous share of the
     * files and writes its CAMs; rank 0 gets every row and prints them all */
    const int R = pn__dist_size();
    size_t lo = 0, hi = 0, nr = 0, *order = NULL, *ridx = NULL;
    float *rp = NULL;
    int *rcam = NULL;
    pn_bad_list mine = {0};
    if (collect(argv + optind, argc - optind, &files, &names, &failed, &err)) goto fail;
    if (cam_dir && cam_paths(&names, cam_dir, &err)) goto fail;
    if (files.n == 0) {
        rc = 1;
        goto done;
    }
    if (cam_dir && pn_mkdirs(cam_dir, &err)) goto fail;
    /* the engine at the batch asked for, or fewer when there are fewer
     * images (one image: batch 1, the shortest start) */
    int B = co.batch < (long)files.n ? (int)co.batch : (int)files.n;
    if (pn_classifier_open(&c, model, B, threads, pn_cli_infer_mode(&co), cam_dir != NULL, &err))
        goto fail;
    if (c.classes > PN_MAX_CLASSES || c.size != PN_IMAGE_SIZE) {
        pn_error_set(&err, PN_E_UNSUPPORTED, "%s: %d classes at input %d", model, c.classes, c.size);
        goto fail;
    }
    if (thr < 0) thr = c.meta.threshold;
    if (pn_dataset_open_files((const char *const *)files.v, files.n, &ds, &err)) goto fail;
    x = malloc((size_t)B * 3 * c.size * c.size * sizeof *x);
    probs = malloc((size_t)B * c.classes * sizeof *probs);
    idx = malloc((size_t)B * sizeof *idx);
    if (cam_dir) l4 = malloc((size_t)B * 512 * c.cam_h * c.cam_w * sizeof *l4);
    if (!x || !probs || !idx || (cam_dir && !l4)) {
        pn_error_set(&err, PN_E_NOMEM, "out of memory");
        goto fail;
    }
    if (R > 1) {
        pn__dist_share(files.n, pn__dist_rank(), R, &lo, &hi);
        order = malloc(files.n * sizeof *order);
        ridx = malloc(files.n * sizeof *ridx);
        rp = malloc(files.n * (size_t)c.classes * sizeof *rp);
        rcam = malloc(files.n * sizeof *rcam);
        if (!order || !ridx || !rp || !rcam) {
            pn_error_set(&err, PN_E_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = lo; i < hi; i++) order[i - lo] = i;
    }
    /* decode on all cores (the loader's workers) while the engine runs */
    if ((R == 1 || hi > lo) && pn_loader_create(&l, ds, PN_SPLIT_TEST, R > 1 ? order : NULL,
                                                hi - lo, B, threads, &dopt, 1, &err))
        goto fail;
    if (!json) print_header(&c, thr);
    size_t nbad_shown = 0;
    for (; l;) {
        int nb = 0;
        if (pn_loader_next(l, x, NULL, idx, &nb, &err)) goto fail;
        /* the images that could not be read are reported in their place */
        const pn_bad_list *bad = pn_loader_bad(l);
        if (nb == 0) break;
        if (pn_classifier_run(&c, x, nb, probs, l4, &err)) goto fail;
        for (int i = 0; i < nb; i++) {
            const pn_item *it = pn_dataset_item(ds, PN_SPLIT_TEST, idx[i]);
            while (R == 1 && nbad_shown < bad->n && bad->v[nbad_shown].item->index < it->index) {
                report_bad(&bad->v[nbad_shown++]);
                failed = 1;
            }
            const float *p = probs + (size_t)i * c.classes;
            int k = pn_classifier_decide(&c, p, thr);
            const char *cam = cam_dir ? names.v[it->index] : NULL;
            if (cam) {
                pn_error e = {0};
                const float *f = l4 + (size_t)i * 512 * c.cam_h * c.cam_w;
                if (mkdirs_for(cam, &e) || pn_image_load(it->name, &dopt, &img, &e) ||
                    pn_classifier_cam_png(&c, f, c.cam_h, c.cam_w, k, &img, cam, &e)) {
                    fprintf(stderr, "pneumo predict: %s\n", e.msg);
                    failed = 1;
                    cam = NULL;
                }
            }
            if (R > 1) { /* kept for rank 0 */
                ridx[nr] = it->index;
                memcpy(rp + nr * (size_t)c.classes, p, (size_t)c.classes * sizeof *p);
                rcam[nr++] = cam != NULL;
                continue;
            }
            print_row(&c, it, p, k, thr, cam, json);
        }
        fflush(stdout);
    }
    if (R > 1) {
        const pn_bad_list *lb = l ? pn_loader_bad(l) : &mine;
        for (size_t i = 0; i < lb->n && l; i++) {
            pn_bad_item b = lb->v[i];
            b.reason = strdup(b.reason ? b.reason : "unreadable");
            pn_bad_item *v = realloc(mine.v, (mine.n + 1) * sizeof *v);
            if (!b.reason || !v) {
                free(b.reason);
                if (v) mine.v = v;
                pn_error_set(&err, PN_E_NOMEM, "out of memory");
                goto fail;
            }
            mine.v = v;
            mine.v[mine.n++] = b;
            mine.cap = mine.n;
        }
        if (pn__eval_gather(ds, c.classes, rp, rcam, ridx, &nr, &mine, &err)) goto fail;
        for (size_t i = 0; i < nr; i++) { /* rank 0: every row, the bad ones in place */
            const pn_item *it = pn_dataset_item(ds, PN_SPLIT_TEST, ridx[i]);
            while (nbad_shown < mine.n && mine.v[nbad_shown].item->index < it->index) {
                report_bad(&mine.v[nbad_shown++]);
                failed = 1;
            }
            const float *p = rp + i * (size_t)c.classes;
            if (cam_dir && !rcam[i]) failed = 1;
            print_row(&c, it, p, pn_classifier_decide(&c, p, thr), thr,
                      cam_dir && rcam[i] ? names.v[it->index] : NULL, json);
        }
        for (; nbad_shown < mine.n; nbad_shown++) {
            report_bad(&mine.v[nbad_shown]);
            failed = 1;
        }
        /* every rank exits with the job's status, after every collective */
        if (pn__dist_allreduce_max_int(&failed, 1, &err)) goto fail;
        pn__dist_mark_finished();
        rc = failed;
        goto done;
    }
    const pn_bad_list *bad = pn_loader_bad(l);
    for (; nbad_shown < bad->n; nbad_shown++) {
        report_bad(&bad->v[nbad_shown]);
        failed = 1;
    }
    rc = failed;
    goto done;
fail:
    rc = pn_cli_fail(cmd, &err);
done:
    if (l) pn_loader_free(l);
    pn_dataset_free(ds);
    pn_path_list_free(&files);
    cam_names_free(&names);
    free(x);
    free(l4);
    free(probs);
    free(idx);
    free(order);
    free(ridx);
    free(rp);
    free(rcam);
    pn_bad_list_free(&mine);
    pn_image_free(&img);
    pn_classifier_free(&c);
    return rc;
}
