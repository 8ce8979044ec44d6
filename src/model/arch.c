/* The one ResNet-18 description (src/model/arch.h): the table of the 20
 * conv+BN units, stage boundaries and names, the state_dict keys, their
 * normalisation (the seed notebook's / DataParallel's names) and the
 * one-message check of a state dict (pn_resnet18_check). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "model/arch.h"

#define U(conv, bn, cin, cout, k, s, p, relu, role, blk) {conv, bn, cin, cout, k, s, p, relu, role, blk}
#define BLOCK(L, B, cin, cout, s, blk)                                                          \
    U("layer" #L "." #B ".conv1", "layer" #L "." #B ".bn1", cin, cout, 3, s, 1, 1,           \
      PN__ROLE_CONV1, blk),                                                                  \
    U("layer" #L "." #B ".conv2", "layer" #L "." #B ".bn2", cout, cout, 3, 1, 1, 0,          \
      PN__ROLE_CONV2, blk)
#define DOWNSAMPLE(L, cin, cout, blk)                                                          \
    U("layer" #L ".0.downsample.0", "layer" #L ".0.downsample.1", cin, cout, 1, 2, 0, 0,    \
      PN__ROLE_DOWNSAMPLE, blk)

/*                     conv      bn     cin cout k stride pad relu role block */
const pn__arch_unit pn__arch[PN__ARCH_NCONV] = {
    U("conv1", "bn1", 3, 64, 7, 2, 3, 1, PN__ROLE_STEM, -1),
    BLOCK(1, 0, 64, 64, 1, 0),
    BLOCK(1, 1, 64, 64, 1, 1),
    BLOCK(2, 0, 64, 128, 2, 2),
    DOWNSAMPLE(2, 64, 128, 2),
    BLOCK(2, 1, 128, 128, 1, 3),
    BLOCK(3, 0, 128, 256, 2, 4),
    DOWNSAMPLE(3, 128, 256, 4),
    BLOCK(3, 1, 256, 256, 1, 5),
    BLOCK(4, 0, 256, 512, 2, 6),
    DOWNSAMPLE(4, 256, 512, 6),
    BLOCK(4, 1, 512, 512, 1, 7),
};

/* ---- stages ------------------------------------------------------------- */

static const char *const stage_names[PN_STAGE_COUNT] = {
    "input", "stem", "layer1", "layer2", "layer3", "layer4", "pool", "logits"};

const char *pn_stage_name(pn_stage s)
{
    return ((int)s >= 0 && s < PN_STAGE_COUNT) ? stage_names[s] : "?";
}

int pn_stage_from_name(const char *name)
{
    for (int i = 0; name && i < PN_STAGE_COUNT; i++)
        if (!strcmp(name, stage_names[i])) return i;
    return -1;
}

int pn__arch_stage_blocks(pn_stage s)
{
    if (s <= PN_STAGE_STEM) return 0;
    if (s <= PN_STAGE_LAYER4) return 2 * (s - PN_STAGE_STEM);
    return PN__ARCH_NBLOCKS;
}

size_t pn__arch_stage_shape(pn_stage s, int h, int w, int K, int *c, int *oh, int *ow)
{
    *c = 0, *oh = *ow = 1;
    if ((int)s < 0 || s >= PN_STAGE_COUNT) return 0;
    if (s == PN_STAGE_POOL || s == PN_STAGE_LOGITS) {
        *c = s == PN_STAGE_POOL ? PN__ARCH_FEAT : K;
        return (size_t)*c;
    }
    *c = 3;
    if (s >= PN_STAGE_STEM) { /* conv1 and the 3x3/2 max pool */
        const pn__arch_unit *u = &pn__arch[0];
        h = pn__arch_out(pn__arch_out(h, u->k, u->stride, u->pad), 3, 2, 1);
        w = pn__arch_out(pn__arch_out(w, u->k, u->stride, u->pad), 3, 2, 1);
        *c = u->cout;
    }
    int nb = pn__arch_stage_blocks(s);
    for (int i = 1; i < PN__ARCH_NCONV; i++) {
        const pn__arch_unit *u = &pn__arch[i];
        if (u->block >= nb || u->role != PN__ROLE_CONV1) continue;
        h = pn__arch_out(h, u->k, u->stride, u->pad); /* conv2 keeps the size */
        w = pn__arch_out(w, u->k, u->stride, u->pad);
        *c = u->cout;
    }
    *oh = h, *ow = w;
    return (size_t)*c * h * w;
}

/* ---- keys --------------------------------------------------------------- */

static int add_key(pn_r18_key *k, int n, int cap, const char *name, int ndim, int64_t a,
                   int64_t b, int64_t c, int64_t d, int is_int)
{
    if (n < cap) {
        snprintf(k[n].name, sizeof k[n].name, "%s", name);
        k[n].ndim = ndim;
        int64_t s[4] = {a, b, c, d};
        memcpy(k[n].shape, s, sizeof s);
        k[n].is_int = is_int;
    }
    return n + 1;
}

int pn__arch_keys(int num_classes, pn_r18_key *k, int cap)
{
    static const char *f[] = {"weight", "bias", "running_mean", "running_var"};
    char name[48];
    int n = 0;
    for (int i = 0; i < PN__ARCH_NCONV; i++) {
        const pn__arch_unit *u = &pn__arch[i];
        snprintf(name, sizeof name, "%s.weight", u->conv);
        n = add_key(k, n, cap, name, 4, u->cout, u->cin, u->k, u->k, 0);
        for (int j = 0; j < 4; j++) {
            snprintf(name, sizeof name, "%s.%s", u->bn, f[j]);
            n = add_key(k, n, cap, name, 1, u->cout, 0, 0, 0, 0);
        }
        snprintf(name, sizeof name, "%s.num_batches_tracked", u->bn);
        n = add_key(k, n, cap, name, 0, 0, 0, 0, 0, 1);
    }
    n = add_key(k, n, cap, "fc.weight", 2, num_classes, PN__ARCH_FEAT, 0, 0, 0);
    n = add_key(k, n, cap, "fc.bias", 1, num_classes, 0, 0, 0, 0);
    return n;
}

int pn_resnet18_keys(int num_classes, pn_r18_key *k, int cap)
{
    return pn__arch_keys(num_classes, k, cap);
}

/* ---- the problem list ------------------------------------------------------ */

void pn__keylist_init(pn__keylist *l, const char *sep)
{
    memset(l, 0, sizeof *l);
    l->sep = sep;
}

void pn__keylist_add(pn__keylist *l, const char *fmt, ...)
{
    char item[240];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(item, sizeof item, fmt, ap);
    va_end(ap);
    l->count++;
    size_t il = strlen(item), sl = strlen(l->sep);
    /* keep room for the ", ... N more" tail */
    if (l->dropped || l->len + sl + il + 24 >= sizeof l->buf) {
        l->dropped++;
        return;
    }
    if (l->len) memcpy(l->buf + l->len, l->sep, sl), l->len += sl;
    memcpy(l->buf + l->len, item, il + 1);
    l->len += il;
}

const char *pn__keylist_str(pn__keylist *l)
{
    if (l->dropped)
        snprintf(l->buf + l->len, sizeof l->buf - l->len, ", ... %d more", l->dropped);
    return l->buf;
}

/* ---- checking a state dict ----------------------------------------------- */

/* The name a key has after normalisation ("module." stripped, seed head). */
static const char *norm_name(const char *name, char *buf, size_t bufsz)
{
    if (!strncmp(name, "module.", 7)) name += 7;
    if (!strcmp(name, "fc.0.weight")) return "fc.weight";
    if (!strcmp(name, "fc.0.bias")) return "fc.bias";
    snprintf(buf, bufsz, "%s", name);
    return buf;
}

static int same_shape(const pn_tensor *t, const pn_r18_key *k)
{
    if (t->ndim != k->ndim) return 0;
    for (int i = 0; i < k->ndim; i++)
        if (t->shape[i] != k->shape[i]) return 0;
    return (t->dtype == PN_I64) == (k->is_int != 0);
}

/* Checks sd (read-only). *classes: class count of the head that is kept
 * (0: none); *drop_head: the head present must be removed (optional head
 * of another shape). */
static pn_status r18_check(const pn_statedict *sd, int num_classes, unsigned flags, int *classes,
                           int *drop_head, pn_error *err)
{
    pn_status st = PN_OK;
    size_t n = sd->n;
    char **names = calloc(n ? n : 1, sizeof *names);
    if (!names) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char buf[512];
        names[i] = strdup(norm_name(sd->t[i].name, buf, sizeof buf));
        if (!names[i]) {
            st = pn_error_set(err, PN_E_NOMEM, "out of memory");
            goto done;
        }
    }
    const char *dup = NULL;
    int d = pn__io_find_duplicate((const char *const *)names, n, &dup);
    if (d) {
        st = d < 0 ? pn_error_set(err, PN_E_NOMEM, "out of memory")
                   : pn_error_set(err, PN_E_FORMAT,
                                  "two tensors are both named '%s' once 'module.'/'fc.0.' prefixes "
                                  "are normalised",
                                  dup);
        goto done;
    }
#define FIND(nm, out)                                                          \
    do {                                                                       \
        (out) = NULL;                                                          \
        for (size_t j_ = 0; j_ < n; j_++)                                      \
            if (!strcmp(names[j_], (nm))) (out) = &sd->t[j_];                  \
    } while (0)
    const pn_tensor *fw, *fb;
    FIND("fc.weight", fw);
    FIND("fc.bias", fb);
    /* classes of the head in the file, if it is well formed */
    int found = 0;
    if (fw && fb && fw->ndim == 2 && fw->shape[1] == 512 && fb->ndim == 1 &&
        fb->shape[0] == fw->shape[0] && fw->shape[0] > 0 && fw->shape[0] <= 100000 &&
        fw->dtype == PN_F32 && fb->dtype == PN_F32)
        found = (int)fw->shape[0];
    int want = num_classes > 0 ? num_classes : found;
    int optional = (flags & PN_R18_HEAD_OPTIONAL) != 0;
    *drop_head = 0;
    if (optional && (fw || fb) && (!found || (num_classes > 0 && found != num_classes)))
        *drop_head = 1;
    int check_head = !(optional && (*drop_head || (!fw && !fb)));
    pn_r18_key keys[PN__ARCH_NKEYS];
    int nk = pn__arch_keys(want > 0 ? want : 2, keys, PN__ARCH_NKEYS);
    pn__keylist missing, unexpected, shaped;
    pn__keylist_init(&missing, ", ");
    pn__keylist_init(&unexpected, ", ");
    pn__keylist_init(&shaped, ", ");
    for (int i = 0; i < nk; i++) {
        int is_head = !strncmp(keys[i].name, "fc.", 3);
        if (is_head && !check_head) continue;
        const pn_tensor *t;
        FIND(keys[i].name, t);
        if (!t) {
            if (!keys[i].is_int) pn__keylist_add(&missing, "%s", keys[i].name);
            continue;
        }
        if (is_head && want <= 0) { /* a malformed head and no class count to expect */
            char g[160];
            pn_shape_str(t->ndim, t->shape, g, sizeof g);
            pn__keylist_add(&shaped, "%s %s (want [classes, 512] and [classes])", keys[i].name, g);
            continue;
        }
        if (!same_shape(t, &keys[i])) {
            char g[160], w[160];
            pn_shape_str(t->ndim, t->shape, g, sizeof g);
            pn_shape_str(keys[i].ndim, keys[i].shape, w, sizeof w);
            if ((t->dtype == PN_I64) != (keys[i].is_int != 0))
                snprintf(w + strlen(w), sizeof w - strlen(w), " %s",
                         keys[i].is_int ? "int64" : "float");
            pn__keylist_add(&shaped, "%s %s (want %s)", keys[i].name, g, w);
        }
    }
    for (size_t j = 0; j < n; j++) {
        int known = 0;
        for (int i = 0; i < nk && !known; i++) known = !strcmp(names[j], keys[i].name);
        if (!known) pn__keylist_add(&unexpected, "%s", names[j]);
    }
    if (missing.count || unexpected.count || shaped.count) {
        char m[3][440];
        pn__keylist *ls[3] = {&missing, &unexpected, &shaped};
        const char *what[3] = {"missing", "unexpected", "mis-shaped"};
        for (int i = 0; i < 3; i++) {
            m[i][0] = '\0';
            if (ls[i]->count)
                snprintf(m[i], sizeof m[i], "; %d %s: %s", ls[i]->count, what[i],
                         pn__keylist_str(ls[i]));
        }
        /* another torchvision ResNet: bottleneck blocks (conv3) and the depth of layer3 */
        int bottleneck = 0, l3 = -1;
        for (size_t j = 0; j < n; j++) {
            int b;
            if (strstr(names[j], ".conv3.weight")) bottleneck = 1;
            if (sscanf(names[j], "layer3.%d.", &b) == 1 && b > l3) l3 = b;
        }
        const char *other = bottleneck ? (l3 >= 35 ? "ResNet-152" : l3 >= 22 ? "ResNet-101" : "ResNet-50")
                            : l3 == 5 ? "ResNet-34" : NULL;
        if (other) {
            st = pn_error_set(err, PN_E_FORMAT,
                              "a torchvision %s state_dict, not ResNet-18 (%s; layer3 has %d "
                              "blocks): pneumo trains and runs ResNet-18 only: use torchvision's "
                              "resnet18 weights (pneumo fetch weights)",
                              other, bottleneck ? "bottleneck blocks with conv3" : "basic blocks",
                              l3 + 1);
            goto done;
        }
        st = pn_error_set(err, PN_E_FORMAT, "not a torchvision ResNet-18 state_dict%s%s%s%s",
                          want > 0 ? "" : " (no usable fc head)", m[0], m[1], m[2]);
        goto done;
    }
    *classes = check_head ? want : 0;
done:
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return st;
#undef FIND
}

pn_status pn_resnet18_check(pn_statedict *sd, int num_classes, unsigned flags, int *classes_out,
                            pn_error *err)
{
    int classes = 0, drop = 0;
    pn_status st = r18_check(sd, num_classes, flags, &classes, &drop, err);
    if (st) return st;
    for (size_t i = 0; i < sd->n; i++) {
        char buf[512];
        const char *nn = norm_name(sd->t[i].name, buf, sizeof buf);
        if (strcmp(nn, sd->t[i].name)) {
            char *c = strdup(nn);
            if (!c) return pn_error_set(err, PN_E_NOMEM, "out of memory");
            free(sd->t[i].name);
            sd->t[i].name = c;
        }
    }
    if (drop) {
        pn_statedict_remove(sd, "fc.weight");
        pn_statedict_remove(sd, "fc.bias");
    }
    if (classes_out) *classes_out = classes;
    return PN_OK;
}

/* For the model-file writer: checks a const sd and gives the normalised
 * names (owned array of owned strings, sd order). */
pn_status pn__io_r18_names(const pn_statedict *sd, int num_classes, char ***names_out,
                          pn_error *err)
{
    int classes = 0, drop = 0;
    pn_status st = r18_check(sd, num_classes, 0, &classes, &drop, err);
    if (st) return st;
    char **names = calloc(sd->n ? sd->n : 1, sizeof *names);
    if (!names) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    for (size_t i = 0; i < sd->n; i++) {
        char buf[512];
        names[i] = strdup(norm_name(sd->t[i].name, buf, sizeof buf));
        if (!names[i]) {
            for (size_t j = 0; j < i; j++) free(names[j]);
            free(names);
            return pn_error_set(err, PN_E_NOMEM, "out of memory");
        }
    }
    *names_out = names;
    return PN_OK;
}
