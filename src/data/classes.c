/* Class names checked, never assumed by position: the data's class names
 * against a model's (case-insensitive), the --classes mapping between them,
 * and the positive class (--positive, default PNEUMONIA). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dataset_internal.h"

int pn_dataset_is_flat(const pn_dataset *ds) { return ds && ds->flat; }

static int find_ci(const char *const *names, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(names[i]) == len && !strncasecmp(names[i], name, len)) return i;
    return -1;
}

/* "a, b, c" */
static void list(const char *const *names, int n, char *out, size_t size)
{
    out[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(out);
        snprintf(out + k, size - k, "%s%s", i ? ", " : "", names[i]);
    }
}

static pn_status refuse(const char *const *data, int nd, const char *const *model, int nm,
                        pn_error *err, const char *why)
{
    char dl[1024], ml[1024];
    list(data, nd, dl, sizeof dl);
    list(model, nm, ml, sizeof ml);
    /* the example pairs the first data class and model class that match nothing */
    const char *ed = nd ? data[0] : "DATA", *em = nm ? model[0] : "MODEL";
    for (int d = nd - 1; d >= 0; d--)
        if (find_ci(model, nm, data[d], strlen(data[d])) < 0) ed = data[d];
    for (int m = nm - 1; m >= 0; m--)
        if (find_ci(data, nd, model[m], strlen(model[m])) < 0) em = model[m];
    return pn_error_set(err, PN_E_ARG,
                        "%s: the data's classes are (%s), the model's (%s); map them with "
                        "--classes MODEL=DATA,... (e.g. --classes %s=%s)",
                        why, dl, ml, em, ed);
}

pn_status pn_class_map(const char *const *data, int nd, const char *const *model, int nm,
                       const char *spec, int *map, pn_error *err)
{
    if (nd < 0 || nm < 0 || nd > PN_MAX_CLASSES || nm > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_ARG, "class map: %d data / %d model classes", nd, nm);
    for (int d = 0; d < nd; d++) map[d] = -1;
    /* --classes MODEL=DATA,...: also accepted the other way round (DATA=MODEL) */
    for (const char *p = spec; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (!eq || eq == p || eq == p + len - 1)
            return pn_error_set(err, PN_E_ARG,
                                "--classes wants MODEL=DATA pairs separated by commas, not '%.*s'",
                                (int)len, p);
        size_t l1 = (size_t)(eq - p), l2 = len - l1 - 1;
        int m = find_ci(model, nm, p, l1), d = find_ci(data, nd, eq + 1, l2);
        if (m < 0 || d < 0) { /* DATA=MODEL */
            int m2 = find_ci(model, nm, eq + 1, l2), d2 = find_ci(data, nd, p, l1);
            if (m2 >= 0 && d2 >= 0) m = m2, d = d2;
        }
        if (m < 0 || d < 0) {
            char why[512];
            snprintf(why, sizeof why, "--classes %.*s: %s", (int)len, p,
                     m < 0 ? "no model class of that name" : "no data class of that name");
            return refuse(data, nd, model, nm, err, why);
        }
        map[d] = m;
        p = comma ? comma + 1 : p + len;
    }
    for (int d = 0; d < nd; d++) {
        if (map[d] < 0) map[d] = find_ci(model, nm, data[d], strlen(data[d]));
        if (map[d] < 0) {
            char why[512];
            snprintf(why, sizeof why, "data class '%s' is not a class of the model", data[d]);
            return refuse(data, nd, model, nm, err, why);
        }
        for (int e = 0; e < d; e++)
            if (map[e] == map[d]) {
                char why[512];
                snprintf(why, sizeof why, "data classes '%s' and '%s' are both model class '%s'",
                         data[e], data[d], model[map[d]]);
                return refuse(data, nd, model, nm, err, why);
            }
    }
    return PN_OK;
}

pn_status pn_class_map_dataset(const pn_dataset *ds, const char *const *model, int nm,
                               const char *spec, int *map, pn_error *err)
{
    const char *dn[PN_MAX_CLASSES];
    int nd = ds->ncls;
    if (nd > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: %d classes (at most %d)", ds->path, nd,
                            PN_MAX_CLASSES);
    for (int d = 0; d < nd; d++) dn[d] = ds->cls[d];
    pn_status st = pn_class_map(dn, nd, model, nm, spec, map, err);
    return st ? pn_error_prefix(err, "%s: ", ds->path) : PN_OK;
}

pn_status pn_class_positive(const char *const *names, int n, const char *positive, int fallback,
                            int *idx, pn_error *err)
{
    const char *want = positive ? positive : "PNEUMONIA";
    int k = find_ci(names, n, want, strlen(want));
    if (k < 0 && !positive && fallback >= 0 && fallback < n) k = fallback;
    if (k >= 0) {
        *idx = k;
        return PN_OK;
    }
    char l[1024];
    list(names, n, l, sizeof l);
    if (positive)
        return pn_error_set(err, PN_E_ARG, "--positive %s: not one of the classes (%s)", positive,
                            l);
    return pn_error_set(err, PN_E_ARG,
                        "no class is named PNEUMONIA (the classes are %s): name the positive "
                        "class, the one sensitivity and the threshold refer to, with --positive "
                        "CLASS",
                        l);
}

void pn_class_swap2(float *probs, int *labels, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (probs) {
            float t = probs[2 * i];
            probs[2 * i] = probs[2 * i + 1];
            probs[2 * i + 1] = t;
        }
        if (labels && (labels[i] == 0 || labels[i] == 1)) labels[i] = 1 - labels[i];
    }
}
