/* ResNet-18 state_dict keys: the torchvision layout, normalisation of the
 * seed notebook's / DataParallel's names, and one-message checking. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_internal.h"
#include "pneumo/weights.h"

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

static int add_bn(pn_r18_key *k, int n, int cap, const char *p, int64_t c)
{
    static const char *f[] = {"weight", "bias", "running_mean", "running_var"};
    char name[48];
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "%s.%s", p, f[i]);
        n = add_key(k, n, cap, name, 1, c, 0, 0, 0, 0);
    }
    snprintf(name, sizeof name, "%s.num_batches_tracked", p);
    return add_key(k, n, cap, name, 0, 0, 0, 0, 0, 1);
}

int pn_resnet18_keys(int num_classes, pn_r18_key *k, int cap)
{
    int n = 0;
    char p[48], q[48];
    n = add_key(k, n, cap, "conv1.weight", 4, 64, 3, 7, 7, 0);
    n = add_bn(k, n, cap, "bn1", 64);
    int64_t in = 64;
    for (int l = 1; l <= 4; l++) {
        int64_t c = 64 << (l - 1);
        for (int b = 0; b < 2; b++) {
            int64_t cin = b == 0 ? in : c;
            snprintf(p, sizeof p, "layer%d.%d.conv1.weight", l, b);
            n = add_key(k, n, cap, p, 4, c, cin, 3, 3, 0);
            snprintf(q, sizeof q, "layer%d.%d.bn1", l, b);
            n = add_bn(k, n, cap, q, c);
            snprintf(p, sizeof p, "layer%d.%d.conv2.weight", l, b);
            n = add_key(k, n, cap, p, 4, c, c, 3, 3, 0);
            snprintf(q, sizeof q, "layer%d.%d.bn2", l, b);
            n = add_bn(k, n, cap, q, c);
            if (b == 0 && l > 1) {
                snprintf(p, sizeof p, "layer%d.0.downsample.0.weight", l);
                n = add_key(k, n, cap, p, 4, c, in, 1, 1, 0);
                snprintf(q, sizeof q, "layer%d.0.downsample.1", l);
                n = add_bn(k, n, cap, q, c);
            }
        }
        in = c;
    }
    n = add_key(k, n, cap, "fc.weight", 2, num_classes, 512, 0, 0, 0);
    n = add_key(k, n, cap, "fc.bias", 1, num_classes, 0, 0, 0, 0);
    return n;
}

/* The name a key has after normalisation ("module." stripped, seed head). */
static const char *norm_name(const char *name, char *buf, size_t bufsz)
{
    if (!strncmp(name, "module.", 7)) name += 7;
    if (!strcmp(name, "fc.0.weight")) return "fc.weight";
    if (!strcmp(name, "fc.0.bias")) return "fc.bias";
    snprintf(buf, bufsz, "%s", name);
    return buf;
}

/* Capped list appender for the one error message. */
typedef struct msglist {
    char buf[300];
    size_t len;
    int count, dropped;
} msglist;

static void ml_add(msglist *m, const char *fmt, const char *a, const char *b, const char *c)
{
    char item[200];
    snprintf(item, sizeof item, fmt, a, b, c);
    m->count++;
    size_t il = strlen(item);
    if (m->len + il + 3 >= sizeof m->buf) {
        m->dropped++;
        return;
    }
    if (m->len) {
        memcpy(m->buf + m->len, ", ", 2);
        m->len += 2;
    }
    memcpy(m->buf + m->len, item, il + 1);
    m->len += il;
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
    int d = pn_io_find_duplicate((const char *const *)names, n, &dup);
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
    pn_r18_key keys[122];
    int nk = pn_resnet18_keys(want > 0 ? want : 2, keys, 122);
    msglist missing = {0}, unexpected = {0}, shaped = {0};
    for (int i = 0; i < nk; i++) {
        int is_head = !strncmp(keys[i].name, "fc.", 3);
        if (is_head && !check_head) continue;
        const pn_tensor *t;
        FIND(keys[i].name, t);
        if (!t) {
            if (!keys[i].is_int) ml_add(&missing, "%s", keys[i].name, "", "");
            continue;
        }
        if (is_head && want <= 0) { /* a malformed head and no class count to expect */
            char g[160];
            pn_shape_str(t->ndim, t->shape, g, sizeof g);
            ml_add(&shaped, "%s %s (want [classes, 512] and [classes])", keys[i].name, g, "");
            continue;
        }
        if (!same_shape(t, &keys[i])) {
            char g[160], w[160];
            pn_shape_str(t->ndim, t->shape, g, sizeof g);
            pn_shape_str(keys[i].ndim, keys[i].shape, w, sizeof w);
            if ((t->dtype == PN_I64) != (keys[i].is_int != 0))
                snprintf(w + strlen(w), sizeof w - strlen(w), " %s",
                         keys[i].is_int ? "int64" : "float");
            ml_add(&shaped, "%s %s (want %s)", keys[i].name, g, w);
        }
    }
    for (size_t j = 0; j < n; j++) {
        int known = 0;
        for (int i = 0; i < nk && !known; i++) known = !strcmp(names[j], keys[i].name);
        if (!known) ml_add(&unexpected, "%s", names[j], "", "");
    }
    if (missing.count || unexpected.count || shaped.count) {
        char m[3][400];
        msglist *ls[3] = {&missing, &unexpected, &shaped};
        const char *what[3] = {"missing", "unexpected", "mis-shaped"};
        for (int i = 0; i < 3; i++) {
            if (!ls[i]->count) {
                m[i][0] = '\0';
                continue;
            }
            char more[40] = "";
            if (ls[i]->dropped) snprintf(more, sizeof more, ", ... %d more", ls[i]->dropped);
            snprintf(m[i], sizeof m[i], "; %d %s: %s%s", ls[i]->count, what[i], ls[i]->buf, more);
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
pn_status pn_io_r18_names(const pn_statedict *sd, int num_classes, char ***names_out,
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
