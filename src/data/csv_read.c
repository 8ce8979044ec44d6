/* CSV reading for CSV-labelled datasets: RFC 4180 rows, the index of the
 * image files under the image folder, the official split lists. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "csv_internal.h"
#include "dataset_internal.h"
#include "pneumo/util.h"

/* ---- CSV rows (RFC 4180: quotes, "" escapes, CRLF) ------------------------- */


/* Next row into c->f / c->nf; 0 at the end, -1 out of memory. */
int pn__csv_row(pn__csv *c)
{
    if (c->p >= c->end) return 0;
    c->line = c->next_line;
    c->nf = 0;
    size_t need = (size_t)(c->end - c->p) + 1, k = 0;
    if (need > 1 << 16) need = 1 << 16;
    int inq = 0, done = 0;
    size_t start = 0;
    while (!done) {
        if (k + 2 > c->cap) {
            size_t nc = c->cap ? c->cap * 2 : need + 2;
            char *nb = realloc(c->buf, nc);
            if (!nb) return -1;
            c->buf = nb;
            c->cap = nc;
        }
        int ch = c->p < c->end ? (unsigned char)*c->p++ : -1;
        if (ch == '\n') c->next_line++;
        if (inq) {
            if (ch == -1) inq = 0, done = 1;
            else if (ch == '"' && c->p < c->end && *c->p == '"') c->buf[k++] = '"', c->p++;
            else if (ch == '"') inq = 0;
            else c->buf[k++] = (char)ch;
            if (!done) continue;
        }
        if (ch == '"' && k == start) {
            inq = 1;
            continue;
        }
        if (ch == ',' || ch == '\n' || ch == -1) {
            if (ch == '\n' && k > start && c->buf[k - 1] == '\r') k--;
            c->buf[k++] = 0;
            if (c->nf == c->fcap) {
                size_t nc = c->fcap ? c->fcap * 2 : 16;
                char **nv = realloc(c->f, nc * sizeof *nv);
                if (!nv) return -1;
                c->f = nv;
                c->fcap = nc;
            }
            c->f[c->nf++] = (char *)(uintptr_t)start; /* offset; fixed up below */
            start = k;
            if (ch != ',') done = 1;
        } else {
            c->buf[k++] = (char)ch;
        }
    }
    for (size_t i = 0; i < c->nf; i++) c->f[i] = c->buf + (uintptr_t)c->f[i];
    return 1;
}

int pn__csv_col(const pn__csv *hdr, const char *name)
{
    for (size_t i = 0; i < hdr->nf; i++)
        if (!strcmp(hdr->f[i], name)) return (int)i;
    return -1;
}

/* ---- finding the images ------------------------------------------------------ */


int pn__cmp_ent(const void *a, const void *b)
{
    return strcmp(((const pn__file_ent *)a)->base, ((const pn__file_ent *)b)->base);
}

pn_status pn__index_dir(pn__file_index *ix, const char *dir, int depth, pn_error *err)
{
    DIR *d = opendir(dir);
    if (!d) return depth ? PN_OK : pn_error_set(err, PN_E_IO, "%s: cannot read folder", dir);
    struct dirent *e;
    char p[4096];
    pn_status st = PN_OK;
    while (!st && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) >= (int)sizeof p) continue;
        struct stat sb;
        if (stat(p, &sb)) continue;
        if (S_ISDIR(sb.st_mode)) {
            if (depth < 6) st = pn__index_dir(ix, p, depth + 1, err);
            continue;
        }
        if (!S_ISREG(sb.st_mode) || !pn_is_image_name(e->d_name)) continue;
        if (ix->n == ix->cap) {
            size_t nc = ix->cap ? ix->cap * 2 : 1024;
            pn__file_ent *nv = realloc(ix->v, nc * sizeof *nv);
            if (!nv) st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", dir);
            else ix->v = nv, ix->cap = nc;
            if (st) break;
        }
        pn__file_ent *fe = &ix->v[ix->n];
        fe->path = strdup(p);
        fe->base = fe->path ? fe->path + strlen(p) - strlen(e->d_name) : NULL;
        if (!fe->path) st = pn_error_set(err, PN_E_NOMEM, "%s: out of memory", dir);
        else ix->n++;
    }
    closedir(d);
    return st;
}

void pn__index_free(pn__file_index *ix)
{
    for (size_t i = 0; i < ix->n; i++) free(ix->v[i].path);
    free(ix->v);
}

/* The path of a file named `base` under the image folder; NULL when there
 * is none; *dup set when two files share the name. */
const char *pn__index_find(const pn__file_index *ix, const char *base, int *dup)
{
    pn__file_ent key = {(char *)base, NULL};
    pn__file_ent *f = bsearch(&key, ix->v, ix->n, sizeof *ix->v, pn__cmp_ent);
    *dup = 0;
    if (!f) return NULL;
    *dup = (f > ix->v && !strcmp(f[-1].base, base)) ||
           (f + 1 < ix->v + ix->n && !strcmp(f[1].base, base));
    return f->path;
}

/* ---- the official NIH split lists --------------------------------------------- */


static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lines of <dir of csv>/<file>; an absent file gives an empty set. */
pn_status pn__read_list(const char *csv_path, const char *file, pn__name_set *s, pn_error *err)
{
    char p[4096];
    const char *slash = strrchr(csv_path, '/');
    int dl = slash ? (int)(slash - csv_path) : 1;
    snprintf(p, sizeof p, "%.*s/%s", dl, slash ? csv_path : ".", file);
    struct stat sb;
    if (stat(p, &sb)) return PN_OK;
    uint8_t *b = NULL;
    size_t n = 0;
    PN_TRY(pn_read_file(p, PN_MAX_FILE_BYTES, &b, &n, err));
    size_t cap = 0;
    char *q = (char *)b, *end = q + n;
    while (q < end) {
        char *nl = memchr(q, '\n', (size_t)(end - q));
        char *e = nl ? nl : end;
        while (e > q && (e[-1] == '\r' || e[-1] == ' ')) e--;
        if (e > q) {
            if (s->n == cap) {
                cap = cap ? cap * 2 : 4096;
                char **nv = realloc(s->v, cap * sizeof *nv);
                if (!nv) {
                    free(b);
                    return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", p);
                }
                s->v = nv;
            }
            s->v[s->n] = strndup(q, (size_t)(e - q));
            if (!s->v[s->n]) {
                free(b);
                return pn_error_set(err, PN_E_NOMEM, "%s: out of memory", p);
            }
            s->n++;
        }
        q = nl ? nl + 1 : end;
    }
    free(b);
    if (s->n > 1) qsort(s->v, s->n, sizeof *s->v, cmp_str);
    return PN_OK;
}

int pn__set_has(const pn__name_set *s, const char *name)
{
    return s->n && bsearch(&name, s->v, s->n, sizeof *s->v, cmp_str) != NULL;
}

void pn__set_free(pn__name_set *s)
{
    for (size_t i = 0; i < s->n; i++) free(s->v[i]);
    free(s->v);
}