/* pn_eval_split_probs: a classifier's probabilities on one split of a
 * dataset through the pooled-feature disk cache (the backbone runs only on
 * images it has not seen with these weights), then the classifier's head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_internal.h"
#include "eval/eval_internal.h"
#include "featcache.h"
#include "pneumo/app.h"
#include "pneumo/util.h"

void pn_eval_config_default(pn_eval_config *c)
{
    memset(c, 0, sizeof *c);
    c->use_cache = 1;
}

void pn_eval_probs_free(pn_eval_probs *p)
{
    free(p->probs);
    free(p->labels);
    free(p->names);
    free(p->patients);
    free(p->sop_uids);
    pn_bad_list_free(&p->bad);
    memset(p, 0, sizeof *p);
}

pn_status pn__manifest_update(pn_sha256 *h, const pn_source *src, int split, pn_error *err)
{
    size_t n = src->count(src->ctx, split);
    for (size_t i = 0; i < n; i++) {
        uint8_t ch[32];
        char hex[65], line[4200];
        pn_error e = {0};
        pn_status st = src->content_hash(src->ctx, split, i, ch, &e);
        if (st == PN_E_NOMEM) {
            if (err) *err = e;
            return st;
        }
        /* an item that cannot be read (left out by --skip-bad: a FIFO, a
         * vanished file) is in the manifest as such */
        if (st) snprintf(hex, sizeof hex, "unreadable");
        else pn_hex(ch, 32, hex);
        int k = snprintf(line, sizeof line, "%s\t%s\t%d\t%s\n", pn_split_name((pn_split)split),
                         src->name(src->ctx, split, i), src->label(src->ctx, split, i), hex);
        pn_sha256_update(h, line, (size_t)k < sizeof line ? (size_t)k : sizeof line - 1);
    }
    return PN_OK;
}

static pn_status manifest_hash(const pn_source *src, int split, uint8_t out[32], pn_error *err)
{
    pn_sha256 h;
    pn_status st = pn_sha256_init(&h, err);
    if (st) return st;
    st = pn__manifest_update(&h, src, split, err);
    if (st) {
        pn_sha256_discard(&h);
        return st;
    }
    pn_sha256_final(&h, out);
    return PN_OK;
}

pn_status pn_eval_split_probs(pn_classifier *c, const uint8_t model_sha256[32],
                              const pn_dataset *ds, pn_split split, const pn_eval_config *cfg,
                              pn_eval_probs *out, pn_error *err)
{
    memset(out, 0, sizeof *out);
    size_t total = pn_dataset_count(ds, split);
    if (total == 0)
        return pn_error_set(err, PN_E_ARG, "%s: the %s split is empty", pn_dataset_path(ds),
                            pn_split_name(split));
    pn_dataset_source src;
    pn_status st = pn_dataset_source_init(&src, ds, err);
    if (st) return st;
    pn_infer_extractor ix;
    st = pn_infer_extractor_init(&ix, ds, &c->sd, model_sha256, PN_STAGE_POOL, c->batch,
                                 cfg->threads, cfg->bf16, cfg->fast_decode, cfg->skip_bad, err);
    if (st) return st;
    pn_infer_extractor_set_decode(&ix, &(pn_decode_opts){.fast_decode = cfg->fast_decode,
                                                         .png16 = cfg->png16});
    pn_featcache cache, *cp = NULL;
    const int C = c->classes;
    const size_t D = (size_t)ix.ex.dim;
    float *feat = malloc(total * D * sizeof *feat);
    out->probs = malloc(total * (size_t)C * sizeof *out->probs);
    out->labels = malloc(total * sizeof *out->labels);
    out->names = malloc(total * sizeof *out->names);
    out->patients = malloc(total * sizeof *out->patients);
    out->sop_uids = malloc(total * sizeof *out->sop_uids);
    if (!feat || !out->probs || !out->labels || !out->names || !out->patients || !out->sop_uids) {
        st = pn_error_set(err, PN_E_NOMEM, "eval: out of memory for %zu images", total);
        goto done;
    }
    if (D != 512) {
        st = pn_error_set(err, PN_E_FORMAT, "eval: the pooled feature has %zu values, not 512", D);
        goto done;
    }
    if (cfg->use_cache) {
        st = pn__featcache_open(&cache, cfg->cache_dir, err);
        if (st) goto done;
        cp = &cache;
    }
    st = pn__features_compute(&src.src, &ix.ex, cp, split, feat, cfg->progress, cfg->user, NULL,
                              err);
    if (!st && cfg->manifest) st = manifest_hash(&src.src, split, out->manifest_sha256, err);
    if (st) goto done;
    if (cp) {
        out->cache_hits = cp->hits;
        out->cache_misses = cp->misses;
    }
    /* keep the readable items (unreadable ones, --skip-bad, have NaN features) */
    size_t k = 0;
    for (size_t i = 0; i < total; i++) {
        int ok = 1;
        for (size_t q = 0; q < D && ok; q++) ok = isfinite(feat[i * D + q]);
        if (!ok) continue;
        if (k != i) memmove(feat + k * D, feat + i * D, D * sizeof *feat);
        out->labels[k] = src.src.label(src.src.ctx, split, i);
        out->names[k] = src.src.name(src.src.ctx, split, i);
        out->patients[k] = src.src.patient(src.src.ctx, split, i);
        out->sop_uids[k] = src.src.sop_uid(src.src.ctx, split, i);
        k++;
    }
    out->n = k;
    for (size_t i = 0; i < k; i += (size_t)c->batch) {
        int nb = (int)(k - i < (size_t)c->batch ? k - i : (size_t)c->batch);
        pn_classifier_head(c, feat + i * D, nb, out->probs + i * (size_t)C);
    }
    out->bad = ix.bad; /* the left-out items with their reasons */
    ix.bad = (pn_bad_list){0};
    /* under mpirun each rank met the bad items of its share: rank 0 reports them all */
    st = pn__bad_gather(ds, &out->bad, err);
done:
    free(feat);
    pn_infer_extractor_free(&ix);
    if (st) pn_eval_probs_free(out);
    return st;
}
