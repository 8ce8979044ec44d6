/* The audit trail of a training run: class counts per split as used (after
 * --val-split and --skip-bad) and the SHA-256 of the data manifest. */
#include <stdint.h>
#include <string.h>

#include "app_internal.h"
#include "pneumo/app.h"
#include "pneumo/util.h"

pn_status pn__audit_fill(pn_audit *a, const pn_source *src, const int *const y[PN_NSPLITS],
                         const size_t n[PN_NSPLITS], pn_error *err)
{
    memset(&a->counts, 0, sizeof a->counts);
    const int C = src->classes < PN_MAX_CLASSES ? src->classes : PN_MAX_CLASSES;
    a->counts.num_classes = C;
    for (int c = 0; c < C; c++) a->counts.class_name[c] = src->class_names[c];
    for (int s = 0; s < PN_NSPLITS; s++) {
        for (size_t i = 0; i < n[s]; i++)
            if (y[s][i] >= 0 && y[s][i] < C) {
                a->counts.count[s][y[s][i]]++;
                a->counts.total[s]++;
            }
        size_t lo = SIZE_MAX, hi = 0; /* largest / smallest class; 0 with an empty one */
        for (int c = 0; c < C; c++) {
            size_t v = a->counts.count[s][c];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        a->counts.imbalance[s] = lo ? (double)hi / (double)lo : 0;
    }
    a->has_counts = 1;
    /* the manifest: every split of the source, as on disk */
    pn_sha256 h;
    pn_status st = pn_sha256_init(&h, err);
    if (st) return st;
    for (int s = 0; s < PN_NSPLITS && !st; s++) st = pn__manifest_update(&h, src, s, err);
    if (st) {
        pn_sha256_discard(&h);
        return st;
    }
    uint8_t mh[32];
    pn_sha256_final(&h, mh);
    pn_hex(mh, 32, a->data_manifest_sha256);
    return PN_OK;
}
