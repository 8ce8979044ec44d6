/* Per split and class counts and the imbalance ratio. */
#include <string.h>

#include "internal.h"

pn_status pn_dataset_stats_get(const pn_dataset *ds, pn_dataset_stats *st, pn_error *err)
{
    memset(st, 0, sizeof *st);
    int nc = pn_dataset_num_classes(ds);
    if (nc > PN_MAX_CLASSES)
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: %d classes, stats support up to %d",
                            pn_dataset_path(ds), nc, PN_MAX_CLASSES);
    st->num_classes = nc;
    for (int c = 0; c < nc; c++) st->class_name[c] = pn_dataset_class_name(ds, c);
    for (int s = 0; s < PN_NUM_SPLITS; s++) {
        size_t lo = (size_t)-1, hi = 0;
        for (int c = 0; c < nc; c++) {
            size_t k = pn_dataset_count_class(ds, (pn_split)s, c);
            st->count[s][c] = k;
            st->total[s] += k;
            if (k < lo) lo = k;
            if (k > hi) hi = k;
        }
        st->imbalance[s] = (nc > 0 && lo > 0) ? (double)hi / (double)lo : 0.0;
    }
    return PN_OK;
}
