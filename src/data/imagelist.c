/* The one folder walker (pn_list_images); the file test is filekind.c's. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "internal.h"

void pn_path_list_free(pn_path_list *l)
{
    if (!l) return;
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

pn_status pn_path_list_add(pn_path_list *l, const char *dir, const char *name, pn_error *err)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **nv = realloc(l->v, cap * sizeof *nv);
        if (!nv) return pn_error_set(err, PN_E_NOMEM, "out of memory");
        l->v = nv;
        l->cap = cap;
    }
    size_t len = strlen(dir) + (name ? strlen(name) + 1 : 0) + 1;
    char *p = malloc(len);
    if (!p) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    if (name)
        snprintf(p, len, "%s/%s", dir, name);
    else
        snprintf(p, len, "%s", dir);
    l->v[l->n++] = p;
    return PN_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

#define MAX_DEPTH 32

/* The folders on the way down from the root (device, inode): a folder met
 * again is a link loop and is not entered. And every folder walked so far:
 * one reached again through another link is not walked twice (links
 * between folders would otherwise multiply the walk, 2^depth for a ladder
 * of two links per level). */
typedef struct walk_path {
    dev_t dev[MAX_DEPTH + 1];
    ino_t ino[MAX_DEPTH + 1];
    int n;
    struct { dev_t dev; ino_t ino; } *seen;
    size_t nseen, capseen;
} walk_path;

/* 1 when (dev, ino) was walked already, else records it (0); -1: no memory */
static int seen_before(walk_path *wp, dev_t dev, ino_t ino)
{
    for (size_t k = 0; k < wp->nseen; k++)
        if (wp->seen[k].dev == dev && wp->seen[k].ino == ino) return 1;
    if (wp->nseen == wp->capseen) {
        size_t cap = wp->capseen ? 2 * wp->capseen : 64;
        void *v = realloc(wp->seen, cap * sizeof *wp->seen);
        if (!v) return -1;
        wp->seen = v;
        wp->capseen = cap;
    }
    wp->seen[wp->nseen].dev = dev;
    wp->seen[wp->nseen].ino = ino;
    wp->nseen++;
    return 0;
}

static pn_status walk(const char *dir, walk_path *wp, pn_path_list *out, pn_bad_list *bad,
                      size_t *unreadable, pn_error *err)
{
    DIR *d = opendir(dir);
    if (!d) {
        (*unreadable)++;
        if (bad) {
            char msg[4400];
            snprintf(msg, sizeof msg, "%s: cannot open folder: %s", dir, strerror(errno));
            if (pn__bad_list_add(bad, NULL, PN_E_IO, msg))
                return pn_error_set(err, PN_E_NOMEM, "out of memory");
        }
        return PN_OK;
    }
    pn_path_list ents = {0};
    pn_status st = PN_OK;
    struct dirent *e;
    while (!st && (e = readdir(d)))
        if (e->d_name[0] != '.') st = pn_path_list_add(&ents, dir, e->d_name, err);
    closedir(d);
    if (ents.n) qsort(ents.v, ents.n, sizeof *ents.v, cmp_str);
    for (size_t i = 0; i < ents.n && !st; i++) {
        struct stat sb;
        if (stat(ents.v[i], &sb)) continue; /* a dangling link: not an image we were asked for */
        if (S_ISDIR(sb.st_mode)) {
            int seen = 0;
            for (int k = 0; k < wp->n; k++)
                if (wp->dev[k] == sb.st_dev && wp->ino[k] == sb.st_ino) seen = 1;
            if (seen || wp->n > MAX_DEPTH) continue;
            int again = seen_before(wp, sb.st_dev, sb.st_ino);
            if (again < 0) st = pn_error_set(err, PN_E_NOMEM, "out of memory");
            if (again) continue;
            wp->dev[wp->n] = sb.st_dev;
            wp->ino[wp->n] = sb.st_ino;
            wp->n++;
            st = walk(ents.v[i], wp, out, bad, unreadable, err);
            wp->n--;
        } else if (S_ISREG(sb.st_mode) &&
                   pn_image_file_classify(ents.v[i], NULL) != PN_FILE_NOT_IMAGE) {
            st = pn_path_list_add(out, ents.v[i], NULL, err);
        }
    }
    pn_path_list_free(&ents);
    return st;
}

pn_status pn_list_images(const char *dir, pn_path_list *out, pn_bad_list *bad,
                         size_t *unreadable, pn_error *err)
{
    size_t u = 0;
    walk_path wp = {.n = 0};
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        wp.dev[0] = sb.st_dev;
        wp.ino[0] = sb.st_ino;
        wp.n = 1;
        if (seen_before(&wp, sb.st_dev, sb.st_ino) < 0)
            return pn_error_set(err, PN_E_NOMEM, "out of memory");
    }
    pn_status st = walk(dir, &wp, out, bad, &u, err);
    free(wp.seen);
    if (unreadable) *unreadable += u;
    return st;
}
