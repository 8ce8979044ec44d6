/* predictions.csv: split,file,label,prob_<class>...,prediction */
#include <stdio.h>
#include <string.h>

#include "pneumo/report.h"
#include "pneumo/util.h"
#include "report/internal.h"

const char *pn__csv_field(const char *s, char *buf, size_t bufsize)
{
    if (!strpbrk(s, ",\"\r\n") && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' ')) {
        snprintf(buf, bufsize, "%s", s);
        return buf;
    }
    size_t k = 0;
    if (bufsize < 3) return "";
    buf[k++] = '"';
    for (; *s && k + 3 < bufsize; s++) {
        if (*s == '"') buf[k++] = '"';
        buf[k++] = *s;
    }
    buf[k++] = '"';
    buf[k] = 0;
    return buf;
}

pn_status pn_write_predictions_csv(const char *path, const pn_run_report *rep, pn_error *err)
{
    pn_afile af;
    pn_status st = pn_afile_open(&af, path, err);
    if (st) return st;
    char q[8192];
    int ids = 0; /* patient_id,sop_uid columns: only when some file has one */
    for (int s = 0; s < rep->nsplits && !ids; s++)
        for (size_t i = 0; i < rep->splits[s].n && !ids; i++)
            ids = (rep->splits[s].patients && rep->splits[s].patients[i]) ||
                  (rep->splits[s].sop_uids && rep->splits[s].sop_uids[i]);
    fputs("split,file,label", af.f);
    for (int c = 0; c < rep->classes; c++)
        fprintf(af.f, ",prob_%s", rep->class_names[c]);
    fputs(ids ? ",prediction,patient_id,sop_uid\n" : ",prediction\n", af.f);
    for (int s = 0; s < rep->nsplits; s++) {
        const pn_split_result *r = &rep->splits[s];
        for (size_t i = 0; i < r->n; i++) {
            const float *p = r->probs + i * (size_t)rep->classes;
            int pred;
            if (rep->classes == 2) {
                pred = (double)p[1] >= rep->threshold;
            } else {
                pred = 0;
                for (int c = 1; c < rep->classes; c++)
                    if (p[c] > p[pred]) pred = c;
            }
            fprintf(af.f, "%s,", pn__csv_field(r->name, q, sizeof q));
            fprintf(af.f, "%s,", pn__csv_field(r->files[i], q, sizeof q));
            fprintf(af.f, "%s", pn__csv_field(rep->class_names[r->labels[i]], q, sizeof q));
            for (int c = 0; c < rep->classes; c++) fprintf(af.f, ",%.6f", p[c]);
            fprintf(af.f, ",%s", pn__csv_field(rep->class_names[pred], q, sizeof q));
            if (ids) {
                const char *pt = r->patients && r->patients[i] ? r->patients[i] : "";
                const char *uid = r->sop_uids && r->sop_uids[i] ? r->sop_uids[i] : "";
                fprintf(af.f, ",%s", pn__csv_field(pt, q, sizeof q));
                fprintf(af.f, ",%s", pn__csv_field(uid, q, sizeof q));
            }
            fputc('\n', af.f);
        }
    }
    return pn_afile_commit(&af, err);
}
