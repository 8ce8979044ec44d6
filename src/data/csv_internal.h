/* CSV reading for dataset_csv.c (csv_read.c): RFC 4180 rows, the index of
 * the image files under a folder, and name lists (NIH's official splits).
 * Private to src/data. */
#ifndef PNEUMO_CSV_INTERNAL_H
#define PNEUMO_CSV_INTERNAL_H
#include <stddef.h>

#include "pneumo/status.h"

/* A CSV being read: set p, end and next_line = 1, then pn__csv_row. */
typedef struct pn__csv {
    const char *p, *end;
    size_t line;  /* physical line where the current row starts (1-based) */
    size_t next_line;
    char *buf;    /* fields of the current row, NUL-separated */
    size_t cap;
    char **f;
    size_t nf, fcap;
} pn__csv;
/* Next row into c->f / c->nf (quotes, "" escapes, CRLF); 0 at the end, -1
 * out of memory. */
int pn__csv_row(pn__csv *c);
/* Index of the header field named name, or -1. */
int pn__csv_col(const pn__csv *hdr, const char *name);

/* The image files under a folder, by base name. */
typedef struct pn__file_ent {
    char *base, *path;
} pn__file_ent;
typedef struct pn__file_index {
    pn__file_ent *v;
    size_t n, cap;
} pn__file_index;
/* Adds the image files under dir (6 levels deep, hidden entries skipped);
 * then qsort with pn__cmp_ent before pn__index_find. */
pn_status pn__index_dir(pn__file_index *ix, const char *dir, int depth, pn_error *err);
int pn__cmp_ent(const void *a, const void *b);
/* The path of a file named base; NULL when none; *dup set when two share it. */
const char *pn__index_find(const pn__file_index *ix, const char *base, int *dup);
void pn__index_free(pn__file_index *ix);

/* A sorted set of lines. */
typedef struct pn__name_set {
    char **v;
    size_t n;
} pn__name_set;
/* Lines of <folder of csv_path>/<file>; an absent file gives an empty set. */
pn_status pn__read_list(const char *csv_path, const char *file, pn__name_set *s, pn_error *err);
int pn__set_has(const pn__name_set *s, const char *name);
void pn__set_free(pn__name_set *s);

#endif
