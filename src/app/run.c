/* pn_train_run: the whole training application on a source + extractor. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "app_internal.h"
#include "core/files.h"
#include "dist/dist.h"
#include "featcache.h"
#include "pneumo/app.h"
#include "pneumo/eval.h"
#include "pneumo/util.h"
#include "train/train_internal.h"

void pn_train_config_default(pn_train_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    pn_fit_cfg_default(&cfg->fit);
    cfg->threshold = 0.5;
    cfg->use_cache = 1;
}

void pn_train_summary_free(pn_train_summary *sum) { pn_head_state_free(&sum->head); }

static void logf_(const pn_train_config *cfg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void logf_(const pn_train_config *cfg, const char *fmt, ...)
{
    if (!cfg->log) return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg->log(msg, cfg->user);
}

/* one split's data, owned */
typedef struct split_data {
    size_t n;
    float *x;           /* (n, D) */
    int *y;             /* (n) */
    const char **names; /* (n), borrowed from the source */
    const char **pats;  /* (n) patient ids or NULL, borrowed from the source */
    const char **sops;  /* (n) SOP UIDs or NULL, borrowed */
    float *probs;       /* (n, C) */
} split_data;

static void split_free(split_data *s)
{
    free(s->x);
    free(s->y);
    free(s->names);
    free(s->pats);
    free(s->sops);
    free(s->probs);
    memset(s, 0, sizeof *s);
}

static pn_status split_alloc(split_data *s, size_t n, int D, int C, pn_error *err)
{
    s->n = n;
    s->x = malloc((n ? n : 1) * (size_t)D * sizeof *s->x);
    s->y = malloc((n ? n : 1) * sizeof *s->y);
    s->names = malloc((n ? n : 1) * sizeof *s->names);
    s->pats = calloc(n ? n : 1, sizeof *s->pats);
    s->sops = calloc(n ? n : 1, sizeof *s->sops);
    s->probs = malloc((n ? n : 1) * (size_t)C * sizeof *s->probs);
    if (!s->x || !s->y || !s->names || !s->pats || !s->sops || !s->probs) {
        split_free(s);
        return pn_error_set(err, PN_E_NOMEM, "out of memory for %zu items", n);
    }
    return PN_OK;
}

static pn_status load_split(const pn_train_config *cfg, const pn_source *src,
                            const pn_extractor *ex, pn_featcache *cache, int split,
                            split_data *s, pn_error *err)
{
    size_t n = src->count(src->ctx, split);
    pn_status st = split_alloc(s, n, ex->dim, src->classes, err);
    if (st) return st;
    for (size_t i = 0; i < n; i++) {
        s->y[i] = src->label(src->ctx, split, i);
        s->names[i] = src->name(src->ctx, split, i);
        if (src->patient) s->pats[i] = src->patient(src->ctx, split, i);
        if (src->sop_uid) s->sops[i] = src->sop_uid(src->ctx, split, i);
    }
    st = pn__features_compute(src, ex, cache, split, s->x, cfg->progress, cfg->user,
                             cfg->fit.cancel, err);
    if (st) {
        split_free(s);
        return st;
    }
    /* items the extractor could not read (--skip-bad) have NaN features: drop them */
    const size_t D = (size_t)ex->dim;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int ok = 1;
        for (size_t q = 0; q < D && ok; q++) ok = isfinite(s->x[i * D + q]);
        if (!ok) {
            logf_(cfg, "skipped unreadable image %s", s->names[i]);
            continue;
        }
        if (k != i) {
            memmove(s->x + k * D, s->x + i * D, D * sizeof *s->x);
            s->y[k] = s->y[i];
            s->names[k] = s->names[i];
            s->pats[k] = s->pats[i];
            s->sops[k] = s->sops[i];
        }
        k++;
    }
    s->n = k;
    return PN_OK;
}

static pn_status out_path(char *buf, size_t n, const char *dir, const char *name, pn_error *err)
{
    return pn_path_join(buf, n, dir, name, err);
}

/* The outermost folder of dir that does not exist yet (what pn_mkdirs(dir)
 * creates) -> top; "" when dir exists. */
static void first_missing(const char *dir, char *top, size_t n)
{
    top[0] = 0;
    size_t len = strlen(dir);
    if (len >= n) return;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && dir[i] != '/') continue;
        memcpy(top, dir, i);
        top[i] = 0;
        if (!pn_path_exists(top)) return;
    }
    top[0] = 0;
}

/* A failed run leaves no empty folder behind: remove dir and its parents up
 * to top (the folders this run created), each only while it is empty. */
static void remove_created(const char *dir, const char *top)
{
    if (!top[0]) return;
    char p[4096];
    if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) return;
    size_t tl = strlen(top);
    for (;;) {
        size_t len = strlen(p);
        while (len > 1 && p[len - 1] == '/') p[--len] = 0;
        if (len < tl || rmdir(p)) return;
        if (len == tl) return;
        char *slash = strrchr(p, '/');
        if (!slash) return;
        *slash = 0;
    }
}

/* The files a run writes into --out (what --force replaces). */
static const char *const run_outputs[] = {"model.safetensors", "metrics.json", "predictions.csv",
                                          "curves.png", "confusion.png", "roc.png", "report.html",
                                          "checkpoint.safetensors", NULL};

/* The first entry of dir (other than . and ..) into first; 0 when empty. */
static int dir_first_entry(const char *dir, char *first, size_t n)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(first, n, "%s", e->d_name);
            found = 1;
            break;
        }
    closedir(d);
    return found;
}

/* Creates the --out folder (recording in created_top what did not exist),
 * takes the run's lock on it (flock on the folder itself, held in *lock_fd
 * until the run ends: a second run into the same folder is refused while
 * this one lives, even when it is stopped), removes temporary files that a
 * killed run left, refuses a folder that already holds files unless the run
 * resumes or forces, and checks that a file can be written in it. */
static pn_status check_out_dir(const pn_train_config *cfg, char *created_top, size_t n,
                               int *lock_fd, pn_error *err)
{
    const char *dir = cfg->out_dir;
    *lock_fd = -1;
    first_missing(dir, created_top, n);
    pn_status st = pn_mkdirs(dir, err);
    if (st) {
        remove_created(dir, created_top);
        return pn_error_prefix(err, "--out: ");
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        remove_created(dir, created_top);
        return pn_error_set(err, PN_E_IO, "--out %s: cannot open: %s", dir, strerror(e));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return pn_error_set(err, PN_E_ARG,
                                "--out %s is in use by another pneumo run (running or "
                                "stopped): wait until it ends, or choose another --out",
                                dir);
        return pn_error_set(err, PN_E_IO, "--out %s: cannot lock: %s", dir, strerror(e));
    }
    *lock_fd = fd;
    pn__tmp_sweep(dir, NULL);
    char first[256];
    if (!cfg->fit.resume && !cfg->force && dir_first_entry(dir, first, sizeof first))
        return pn_error_set(err, PN_E_ARG,
                            "--out %s is not empty (it holds %s, ...): choose a new folder, "
                            "--resume to continue the run in it, or --force to replace its "
                            "results",
                            dir, first);
    char p[4096];
    if (cfg->force && !cfg->fit.resume)
        for (int i = 0; run_outputs[i]; i++)
            if (!out_path(p, sizeof p, dir, run_outputs[i], NULL)) unlink(p);
    st = out_path(p, sizeof p, dir, "metrics.json", err);
    if (st) return st;
    pn_afile af;
    st = pn_afile_open(&af, p, err);
    if (st) {
        remove_created(dir, created_top);
        return pn_error_prefix(err, "--out %s is not writable (choose another folder): ", dir);
    }
    pn_afile_abort(&af);
    return PN_OK;
}

/* Every class needs training images: the error names the class. */
static pn_status check_class_counts(const pn_source *src, const size_t *cnt, const char *when,
                                    pn_error *err)
{
    for (int c = 0; c < src->classes && c < PN_MAX_CLASSES; c++)
        if (!cnt[c])
            return pn_error_set(err, PN_E_ARG,
                                "the train split has no %s images%s (class %d); every class "
                                "needs training images (put some in train/%s/)",
                                src->class_names[c], when, c, src->class_names[c]);
    return PN_OK;
}

static pn_status check_train_classes(const pn_source *src, const int *y, size_t n,
                                     const char *when, pn_error *err)
{
    size_t cnt[PN_MAX_CLASSES] = {0};
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0 && y[i] < src->classes && y[i] < PN_MAX_CLASSES) cnt[y[i]]++;
    return check_class_counts(src, cnt, when, err);
}

pn_status pn_train_run(const pn_train_config *cfg, const pn_source *src, const pn_extractor *ex,
                       pn_train_summary *sum, pn_error *err)
{
    memset(sum, 0, sizeof *sum);
    const int C = src->classes, D = ex->dim;
    if (C < 2)
        return pn_error_set(err, PN_E_ARG,
                            "the dataset has %d class folder(s); it needs two (NORMAL and "
                            "PNEUMONIA) under train/",
                            C);
    if (!cfg->out_dir) return pn_error_set(err, PN_E_ARG, "no --out folder");
    char ckpt[4096], old[4096];
    pn_status st = out_path(ckpt, sizeof ckpt, cfg->out_dir, "checkpoint.safetensors", err);
    if (!st) st = out_path(old, sizeof old, cfg->out_dir, "checkpoint.bin", err);
    if (st) return st;
    /* before the features (minutes): --resume needs the checkpoint */
    if (cfg->fit.resume && !pn_path_exists(ckpt) && pn__checkpoint_is_old(old))
        return pn_error_set(err, PN_E_FORMAT,
                            "--resume: %s is a checkpoint of an older pneumo, which this one "
                            "cannot resume: rerun without --resume to start over",
                            old);
    if (cfg->fit.resume && !pn_path_exists(ckpt))
        return pn_error_set(err, PN_E_NOTFOUND,
                            "--resume: %s does not exist: nothing to resume (drop --resume to "
                            "start a new run)",
                            ckpt);
    size_t ntr = src->count(src->ctx, PN_SPLIT_TRAIN);
    if (ntr == 0)
        return pn_error_set(err, PN_E_ARG,
                            "the train split is empty: put images in train/<CLASS>/ of the data");
    if (C <= PN_MAX_CLASSES) { /* before the features: a class without training images */
        size_t cnt[PN_MAX_CLASSES] = {0};
        for (size_t i = 0; i < ntr; i++) {
            int y = src->label(src->ctx, PN_SPLIT_TRAIN, i);
            if (y >= 0 && y < C) cnt[y]++;
        }
        st = check_class_counts(src, cnt, "", err);
        if (st) return st;
    }
    /* the --out folder is created now (an unwritable one is found before the
     * features) and removed again when the run fails before writing into it */
    char created[4096] = "";
    int lock_fd = -1;
    /* under mpirun rank 0 owns --out (its lock, sweep and checks); every rank
     * learns whether it succeeded */
    st = pn__dist_rank() == 0 ? check_out_dir(cfg, created, sizeof created, &lock_fd, err) : PN_OK;
    st = pn__dist_agree(st, err);
    if (st) {
        if (lock_fd >= 0) close(lock_fd);
        return st;
    }

    split_data sp[PN_NSPLITS] = {{0}};
    pn_trainer trainer = {0};
    pn_featcache cache, *cp = NULL;
    if (cfg->use_cache) {
        pn_error ce = {0};
        if (pn__featcache_open(&cache, cfg->cache_dir, &ce) == PN_OK)
            cp = &cache;
        else /* a read-only or odd cache folder: run without the disk cache */
            logf_(cfg, "warning: %s; running without the disk feature cache", ce.msg);
    }
    for (int s = 0; s < PN_NSPLITS && !st; s++) st = load_split(cfg, src, ex, cp, s, &sp[s], err);
    if ((st == PN_E_FORMAT || st == PN_E_IO) && err) {
        size_t len = strlen(err->msg);
        snprintf(err->msg + len, sizeof err->msg - len,
                 " (remove or replace the file, or pass --skip-bad to leave unreadable images out)");
    }
    if (st) goto done;
    if (cp) {
        sum->cache_hits = cp->hits;
        sum->cache_misses = cp->misses;
        logf_(cfg, "feature cache: %zu hits, %zu computed%s (%s)", cp->hits, cp->misses,
              cp->bad ? ", some entries were invalid and recomputed" : "", cp->dir);
    }

    if (cfg->val_split > 0) {
        /* carve a patient-grouped stratified val out of train; val/ is then unused */
        split_data *tr = &sp[PN_SPLIT_TRAIN];
        unsigned char *isv = malloc(tr->n);
        if (!isv) {
            st = pn_error_set(err, PN_E_NOMEM, "--val-split: out of memory");
            goto done;
        }
        st = pn_val_split_patients(tr->names, tr->pats, tr->y, tr->n, C, cfg->val_split,
                                   cfg->fit.seed, isv, err);
        if (st) {
            free(isv);
            goto done;
        }
        size_t nv = 0;
        for (size_t i = 0; i < tr->n; i++) nv += isv[i];
        split_data ntrain, nval;
        st = split_alloc(&ntrain, tr->n - nv, D, C, err);
        if (!st) st = split_alloc(&nval, nv, D, C, err);
        if (st) {
            split_free(&ntrain);
            free(isv);
            goto done;
        }
        size_t a = 0, b = 0;
        for (size_t i = 0; i < tr->n; i++) {
            split_data *dst = isv[i] ? &nval : &ntrain;
            size_t k = isv[i] ? b++ : a++;
            memcpy(dst->x + k * D, tr->x + i * D, (size_t)D * sizeof(float));
            dst->y[k] = tr->y[i];
            dst->names[k] = tr->names[i];
            dst->pats[k] = tr->pats[i];
            dst->sops[k] = tr->sops[i];
        }
        free(isv);
        if (sp[PN_SPLIT_VAL].n)
            logf_(cfg, "--val-split %g: %zu train images (patients kept whole) become the "
                       "validation set; the %zu images of val/ are not used",
                  cfg->val_split, nv, sp[PN_SPLIT_VAL].n);
        split_free(&sp[PN_SPLIT_TRAIN]);
        split_free(&sp[PN_SPLIT_VAL]);
        sp[PN_SPLIT_TRAIN] = ntrain;
        sp[PN_SPLIT_VAL] = nval;
    } else if (sp[PN_SPLIT_VAL].n == 0) {
        logf_(cfg, "warning: there is no validation split (val/ is missing or empty): no "
                   "validation loss, accuracy or metrics; use --val-split 0.1 to carve one from "
                   "train (patients kept whole)");
    } else if (sp[PN_SPLIT_VAL].n < 100) {
        logf_(cfg, "warning: the validation split has only %zu images: its accuracy moves in "
                   "big steps and picks thresholds poorly; consider --val-split 0.1",
              sp[PN_SPLIT_VAL].n);
    }
    /* unreadable images left out (--skip-bad) or a carved val may leave a class empty */
    st = check_train_classes(src, sp[PN_SPLIT_TRAIN].y, sp[PN_SPLIT_TRAIN].n,
                             cfg->val_split > 0 ? " left after --val-split" : " left", err);
    if (st) goto done;
    if (cfg->audit) { /* class counts per split as used; the data manifest */
        const int *ys[PN_NSPLITS];
        size_t ns[PN_NSPLITS];
        for (int s = 0; s < PN_NSPLITS; s++) ys[s] = sp[s].y, ns[s] = sp[s].n;
        st = pn__audit_fill(cfg->audit, src, ys, ns, err);
        if (st) goto done;
    }
    sum->n_train = sp[PN_SPLIT_TRAIN].n;
    sum->n_val = sp[PN_SPLIT_VAL].n;
    sum->n_test = sp[PN_SPLIT_TEST].n;
    if (cfg->threshold_auto && sp[PN_SPLIT_VAL].n == 0) {
        st = pn_error_set(err, PN_E_ARG,
                          "--threshold auto needs a validation set: val/ is empty (use "
                          "--val-split 0.1 or --threshold T)");
        goto done;
    }
    for (int s = 0; s < PN_NSPLITS; s++)
        for (size_t i = 0; i < sp[s].n; i++)
            if (sp[s].y[i] < 0 || sp[s].y[i] >= C) {
                st = pn_error_set(err, PN_E_ARG, "%s item %s has label %d (classes: %d)",
                                  pn_split_name((pn_split)(s)), sp[s].names[i], sp[s].y[i], C);
                goto done;
            }

    /* train: the head alone, or the model from its train stage */
    pn_fit_cfg fc = cfg->fit;
    fc.classes = C;
    fc.checkpoint = ckpt;
    if (!fc.settings_json) fc.settings_json = cfg->training_json;
    pn_featset ftr = {sp[0].n, D, sp[0].x, sp[0].y}, fva = {sp[1].n, D, sp[1].x, sp[1].y};
    if (cfg->fit.balance == PN_BALANCE_WEIGHT) {
        float w[PN_MAX_CLASSES];
        st = pn_class_weights(ftr.label, ftr.n, C, w, err);
        if (st) goto done;
        char line[512];
        int k = snprintf(line, sizeof line, "class weights (N / (C * n_c)):");
        for (int c = 0; c < C && k < (int)sizeof line; c++)
            k += snprintf(line + k, sizeof line - (size_t)k, " %s %.4f", src->class_names[c],
                          w[c]);
        logf_(cfg, "%s", line);
    }
    /* the model trains from the extractor's stage (its train stage, or the
     * image itself when augmentation needs the whole forward each step) */
    int from = cfg->model ? pn_stage_from_name(ex->stage) : 0;
    if (cfg->model && from < 0) from = (int)pn_model_train_stage(cfg->model);
    if (cfg->model) st = pn_suffix_trainer_create_at(&trainer, cfg->model, from, err);
    else st = pn_head_trainer_create(&trainer, C, D, fc.batch, err);
    if (!st) st = pn_fit(&fc, &trainer, &ftr, fva.n ? &fva : NULL, &sum->head, err);
    if (st) goto done;
    const float *cw = cfg->fit.balance == PN_BALANCE_WEIGHT ? sum->head.class_w : NULL;

    /* probabilities, threshold, metrics */
    for (int s = 1; s < PN_NSPLITS; s++) {
        if (!sp[s].n) continue;
        pn_featset fs = {sp[s].n, D, sp[s].x, sp[s].y};
        double l, a;
        st = pn_fit_evaluate(&trainer, &fs, cw, &l, &a, sp[s].probs, err);
        if (st) goto done;
    }
    /* --calibrate: temperature scaling fitted on val, applied to val and test */
    double temperature = 1;
    if (cfg->calibrate) {
        if (!sp[1].n) {
            st = pn_error_set(err, PN_E_ARG, "--calibrate needs a validation set: val/ is empty "
                                             "(use --val-split 0.1)");
            goto done;
        }
        double before, after;
        st = pn_fit_temperature(sp[1].probs, sp[1].y, sp[1].n, C, &temperature, &before, &after,
                                err);
        if (st) goto done;
        for (int s = 1; s < PN_NSPLITS; s++) pn_apply_temperature(sp[s].probs, sp[s].n, C, temperature);
        sum->temperature = temperature;
        sum->nll_before = before;
        sum->nll_after = after;
        logf_(cfg, "calibrate: temperature %.4f fitted on %zu validation images (their NLL %.4f "
                   "-> %.4f); stored in the model, applied to every later probability",
              temperature, sp[1].n, before, after);
    }
    double thr = cfg->threshold;
    const char *thr_src = "--threshold";
    char thr_src_buf[128];
    if (cfg->threshold_auto && C == 2) {
        float *p1 = malloc(sp[1].n * sizeof *p1);
        if (!p1) {
            st = pn_error_set(err, PN_E_NOMEM, "threshold: out of memory");
            goto done;
        }
        for (size_t i = 0; i < sp[1].n; i++) p1[i] = sp[1].probs[i * 2 + 1];
        double j;
        st = pn_op_threshold(p1, sp[1].y, sp[1].n, &cfg->threshold_rule, &thr, &j, err);
        free(p1);
        if (st) goto done;
        char rule[64];
        pn_op_rule_describe(&cfg->threshold_rule, rule, sizeof rule);
        if (cfg->threshold_rule.kind == PN_OP_YOUDEN) {
            thr_src = "auto (Youden's J on validation)";
        } else {
            snprintf(thr_src_buf, sizeof thr_src_buf, "auto (%s on validation)", rule);
            thr_src = thr_src_buf;
        }
        if (cfg->threshold_rule.kind == PN_OP_YOUDEN)
            logf_(cfg, "threshold auto: P(%s) >= %.4f (Youden's J %.3f on %zu validation images)",
                  src->class_names[1], thr, j, sp[1].n);
        else
            logf_(cfg, "threshold %s: P(%s) >= %.4f (reaches %.3f on %zu validation images)",
                  rule, src->class_names[1], thr, j, sp[1].n);
        logf_(cfg, "note: the validation split chose the threshold, so its metrics at it are "
                   "optimistic; the test split's are the independent estimate");
    }
    sum->threshold = thr;
    pn_split_result res[2];
    int nres = 0;
    for (int s = 1; s < PN_NSPLITS; s++) {
        if (!sp[s].n) continue;
        pn_split_result *r = &res[nres++];
        *r = (pn_split_result){.name = pn_split_name((pn_split)(s)), .n = sp[s].n, .files = sp[s].names,
                               .labels = sp[s].y, .probs = sp[s].probs,
                               .patients = sp[s].pats, .sop_uids = sp[s].sops};
        if (C == 2) {
            st = pn_split_result_compute(r, C, thr, err);
            if (st) {
                nres--;
                break;
            }
            r->chose_threshold = s == PN_SPLIT_VAL && cfg->threshold_auto;
            if (s == PN_SPLIT_VAL) sum->val = r->m;
            else sum->test = r->m;
            if (cfg->bootstrap > 0) { /* --bootstrap N: the run's seed */
                pn_bootstrap *b = s == PN_SPLIT_VAL ? &sum->val_boot : &sum->test_boot;
                float *p1 = malloc(sp[s].n * sizeof *p1);
                if (!p1) {
                    st = pn_error_set(err, PN_E_NOMEM, "bootstrap: out of memory");
                    break;
                }
                for (size_t i = 0; i < sp[s].n; i++) p1[i] = sp[s].probs[i * 2 + 1];
                st = pn_bootstrap_metrics(p1, sp[s].y, sp[s].n, thr, cfg->bootstrap,
                                          cfg->fit.seed, b, err);
                free(p1);
                if (st) break;
                r->boot = b;
            }
            const pn_op_rule *ru = &cfg->threshold_rule;
            if (s == PN_SPLIT_TEST && cfg->threshold_auto && ru->kind != PN_OP_YOUDEN) {
                /* the target was reached on val; say plainly when test falls short */
                const char *what = ru->kind == PN_OP_SENS ? "sensitivity"
                                   : ru->kind == PN_OP_SPEC ? "specificity" : "PPV";
                double v = ru->kind == PN_OP_SENS ? r->m.sensitivity
                           : ru->kind == PN_OP_SPEC ? r->m.specificity : r->m.ppv;
                pn_ci c = ru->kind == PN_OP_SENS ? r->m.sensitivity_ci
                          : ru->kind == PN_OP_SPEC ? r->m.specificity_ci : r->m.ppv_ci;
                if (!isfinite(v))
                    logf_(cfg, "note: the test split's %s is undefined at this threshold", what);
                else if (v < ru->target)
                    logf_(cfg, "note: on test the %s is %.1f%% (95%% CI %.1f-%.1f%%), below the %g "
                               "it reaches on validation",
                          what, 100 * v, 100 * c.lo, 100 * c.hi, ru->target);
            }
        }
    }

    /* outputs: under mpirun rank 0 writes them for the job (every rank
     * computed the same; docs/mpi.md) */
    if (pn__dist_rank() != 0) goto written;
    char p[4096];
    char why[512];
    pn_select_describe(cfg->fit.select, cfg->fit.patience, sum->head.stopped_early,
                       sum->head.hist, sum->head.epochs_done, why, sizeof why);
    if (cfg->fit.select != PN_SELECT_LAST || sum->head.stopped_early)
        logf_(cfg, "saved model: %s", why);
    pn_run_report rep = {.classes = C, .class_names = src->class_names,
                         .settings = cfg->settings, .hist = sum->head.hist,
                         .nhist = sum->head.epochs_done, .threshold = thr,
                         .threshold_source = thr_src, .class_weights = cw, .splits = res,
                         .nsplits = nres, .temperature = temperature, .audit = cfg->audit,
                         .selected_epoch = sum->head.selected_epoch, .selection = why};
    if (!st && (cfg->model || cfg->backbone)) {
        st = out_path(p, sizeof p, cfg->out_dir, "model.safetensors", err);
        if (!st && cfg->model)
            st = pn__save_full_model(p, cfg->model, thr, temperature, src->class_names,
                                     cfg->training_json, cfg->weights_sha256, err);
        else if (!st)
            st = pn__save_head_model(p, cfg->backbone, sum->head.w, sum->head.b, C, D, thr,
                                     temperature, src->class_names, cfg->training_json, cfg->weights_sha256,
                                     err);
    }
    if (!st) st = pn_write_run_outputs(cfg->out_dir, &rep, err);
written:
    for (int i = 0; i < nres; i++) pn_split_result_free(&res[i]);
done:
    pn_trainer_free(&trainer);
    for (int s = 0; s < PN_NSPLITS; s++) split_free(&sp[s]);
    if (st) {
        pn_head_state_free(&sum->head);
        remove_created(cfg->out_dir, created);
    }
    if (lock_fd >= 0) close(lock_fd); /* the run's lock */
    return st;
}
