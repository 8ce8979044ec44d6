/* Fetch options: defaults, destination folder, URL overrides. */
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
    o->progress = PN_PROGRESS_AUTO;
}

pn_status pn_net_dest_dir(const pn_fetch_opts *o, const char *sub, char *out, size_t n,
                          pn_error *err)
{
    if (o && o->dest_dir && *o->dest_dir) return pn_net_copy_path(out, n, o->dest_dir, o->dest_dir, err);
    char cache[4096];
    pn_status st = pn_cache_dir(cache, sizeof cache, err);
    if (st) return st;
    return pn_path_join(out, n, cache, sub, err);
}

const char *pn_net_url(const pn_fetch_opts *o, const char *env, const char *def)
{
    if (o && o->url && *o->url) return o->url;
    const char *e = getenv(env);
    if (e && *e) return e;
    return def;
}
