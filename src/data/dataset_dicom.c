/* The DICOM ids of dataset items: PatientID (0010,0020) and SOPInstanceUID
 * (0008,0018) from the header of each DICOM file of a folder dataset, read
 * when the dataset is opened (only files not named .jpg/.jpeg/.png are
 * looked at; the first 64 KiB normally hold the header). A file whose
 * header cannot be read keeps no ids: decoding it reports why. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset_internal.h"
#include "dicom_internal.h"
#include "pneumo/util.h"

#define PREFIX_BYTES (64 * 1024)

static int named_jpeg_or_png(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                   !strcasecmp(dot, ".png"));
}

/* The ids of one file (NULL when absent or not DICOM). Only out of memory
 * is an error. */
static pn_status file_ids(const char *path, char **patient, char **sop, pn_error *err)
{
    *patient = *sop = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PN_OK;
    struct stat sb;
    uint8_t *buf = malloc(PREFIX_BYTES);
    ssize_t k = buf && fstat(fd, &sb) == 0 ? read(fd, buf, PREFIX_BYTES) : -1;
    close(fd);
    if (!buf) return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    size_t n = k > 0 ? (size_t)k : 0;
    pn_error e2 = {0};
    int more = 0;
    pn__dcm d;
    memset(&d, 0, sizeof d);
    pn_status st = PN_OK;
    if (!n || !pn__dicom_sniff(buf, n)) goto done;
    int prefix = (uint64_t)n < (uint64_t)sb.st_size;
    if (pn__dicom_walk_prefix(buf, n, prefix, &more, path, &e2) && !more) goto done;
    if (more) { /* a long header, or a Deflated file: the whole file */
        free(buf);
        buf = NULL;
        if (pn_read_file(path, PN_MAX_FILE_BYTES, &buf, &n, &e2) ||
            pn__dicom_walk(buf, n, path, &e2))
            goto done;
    }
    if (pn__dcm_header(buf, n, path, &d, &e2)) goto done;
    if (d.patient_id[0] && !(*patient = strdup(d.patient_id)))
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
    if (!st && d.sop_uid[0] && !(*sop = strdup(d.sop_uid)))
        st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", path);
done:
    pn__dcm_free(&d);
    free(buf);
    return st;
}

pn_status pn__ds_dicom_ids(pn_dataset *ds, pn_error *err)
{
    if (ds->kind != DS_FOLDER) return PN_OK;
    for (int s = 0; s < PN_NUM_SPLITS; s++)
        for (size_t i = 0; i < ds->split[s].n; i++) {
            item_rec *r = &ds->split[s].v[i];
            if (!r->path || named_jpeg_or_png(r->path)) continue;
            char *p, *u;
            PN_TRY(file_ids(r->path, &p, &u, err));
            r->it.patient_id = p;
            r->it.sop_uid = u;
        }
    return PN_OK;
}
