/* A dataset of loose image files (pneumo predict's arguments): one split
 * (PN_SPLIT_TEST), no classes (every label -1), the items in the order
 * given, so that the parallel loader can decode them for a batched
 * classifier. DICOM items get their PatientID / SOPInstanceUID as in a
 * folder dataset. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_internal.h"

pn_status pn_dataset_open_files(const char *const *paths, size_t n, pn_dataset **out,
                                pn_error *err)
{
    if (!out) return pn_error_set(err, PN_E_ARG, "dataset: no output");
    *out = NULL;
    pn_dataset *ds = calloc(1, sizeof *ds);
    if (!ds) return pn_error_set(err, PN_E_NOMEM, "files: out of memory");
    pthread_mutex_init(&ds->mu, NULL);
    ds->kind = DS_FOLDER;
    ds->files = 1;
    ds->path = strdup("files");
    pn_status st = ds->path ? PN_OK : pn_error_set(err, PN_E_NOMEM, "files: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        struct stat sb;
        /* a missing or unreadable file stays in its place: reading it
         * reports why */
        uint64_t size = stat(paths[i], &sb) == 0 ? (uint64_t)sb.st_size : 0;
        st = pn__ds_add(ds, PN_SPLIT_TEST, -1, paths[i], paths[i], 0, size, err);
    }
    if (!st) st = pn__ds_dicom_ids(ds, err);
    if (st) {
        pn_dataset_free(ds);
        return st;
    }
    for (size_t i = 0; i < ds->split[PN_SPLIT_TEST].n; i++) ds->split[PN_SPLIT_TEST].v[i].it.index = i;
    *out = ds;
    return PN_OK;
}
