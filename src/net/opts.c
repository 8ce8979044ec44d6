/* Fetch options: defaults, destination folder, URL overrides, reporting. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"
#include "pneumo/fetch.h"
#include "pneumo/util.h"

void pn_fetch_opts_init(pn_fetch_opts *o)
{
    memset(o, 0, sizeof *o);
    o->expected_size = -1;
    o->retries = -1;
}

pn_status pn__net_copy_path(char *dst, size_t n, const char *src, const char *what, pn_error *err)
{
    size_t l = strlen(src);
    if (!dst || l >= n) return pn_error_set(err, PN_E_ARG, "%s: path too long for the buffer", what);
    memcpy(dst, src, l + 1);
    return PN_OK;
}

pn_status pn__net_dest_dir(const pn_fetch_opts *o, const char *sub, char *out, size_t n,
                           pn_error *err)
{
    if (o && o->dest_dir && *o->dest_dir)
        return pn__net_copy_path(out, n, o->dest_dir, o->dest_dir, err);
    char cache[4096];
    pn_status st = pn_cache_dir(cache, sizeof cache, err);
    if (st) return st;
    return pn_path_join(out, n, cache, sub, err);
}

const char *pn__net_url(const pn_fetch_opts *o, const char *env, const char *def)
{
    if (o && o->url && *o->url) return o->url;
    const char *e = getenv(env);
    if (e && *e) return e;
    return def;
}

void pn__net_report(const pn_fetch_opts *o, pn_fetch_event_kind kind, const char *label,
                    int64_t done, int64_t total, const char *msg)
{
    if (!o || !o->progress) return;
    pn_fetch_event ev = {kind, label, done, total, msg};
    o->progress(&ev, o->progress_user);
}

void pn__net_note(const pn_fetch_opts *o, const char *label, const char *fmt, ...)
{
    if (!o || !o->progress) return;
    char buf[PN_ERROR_MSG_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    pn__net_report(o, PN_FETCH_NOTE, label, 0, -1, buf);
}
