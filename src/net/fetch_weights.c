/* torchvision's ResNet-18 weights: find them (our cache, PyTorch's hub cache)
 * or download them, SHA-256 prefix checked like torchvision's check_hash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "net/net.h"
#include "pneumo/fetch.h"
#include "pneumo/util.h"

static const char *want_prefix(const pn_fetch_opts *o)
{
    return o && o->expected_sha256_prefix ? o->expected_sha256_prefix : PN_WEIGHTS_SHA256_PREFIX;
}

/* 1 when path is a regular file whose SHA-256 starts with prefix. */
static int hash_ok(const char *path, const char *prefix)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (!*prefix) return 1;
    uint8_t h[32];
    char hex[65];
    if (pn_sha256_file(path, h, NULL) != PN_OK) return 0;
    pn_hex(h, 32, hex);
    return strlen(prefix) <= 64 && !strncasecmp(hex, prefix, strlen(prefix));
}

/* PyTorch's hub folder: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch. */
static int torch_checkpoints(char *out, size_t n)
{
    const char *t = getenv("TORCH_HOME"), *x = getenv("XDG_CACHE_HOME"), *h = getenv("HOME");
    int k;
    if (t && *t)
        k = snprintf(out, n, "%s/hub/checkpoints", t);
    else if (x && *x)
        k = snprintf(out, n, "%s/torch/hub/checkpoints", x);
    else if (h && *h)
        k = snprintf(out, n, "%s/.cache/torch/hub/checkpoints", h);
    else
        return 0;
    return k > 0 && (size_t)k < n;
}

pn_status pn_fetch_find_weights_opts(const pn_fetch_opts *o, char *path, size_t n, pn_error *err)
{
    const char *prefix = want_prefix(o);
    char dir[4096], ours[4200], torch[4096], theirs[4200] = "";
    pn_status st = pn__net_dest_dir(o, "weights", dir, sizeof dir, err);
    if (st) return st;
    snprintf(ours, sizeof ours, "%s/" PN_WEIGHTS_FILE, dir);
    if (hash_ok(ours, prefix)) return pn__net_copy_path(path, n, ours, ours, err);
    int reuse = !(o && (o->no_reuse || (o->dest_dir && *o->dest_dir)));
    if (reuse && torch_checkpoints(torch, sizeof torch)) {
        snprintf(theirs, sizeof theirs, "%s/" PN_WEIGHTS_FILE, torch);
        if (hash_ok(theirs, prefix)) return pn__net_copy_path(path, n, theirs, theirs, err);
    }
    return pn_error_set(err, PN_E_NOTFOUND,
                        "no ResNet-18 weights with a SHA-256 beginning %s found (looked for "
                        "%s%s%s): run 'pneumo fetch weights' to download them, or pass "
                        "--weights FILE",
                        prefix, ours, *theirs ? " and " : "", theirs);
}

pn_status pn_fetch_weights(const pn_fetch_opts *o, char *path, size_t n, pn_error *err)
{
    pn_fetch_opts opts;
    if (o)
        opts = *o;
    else
        pn_fetch_opts_init(&opts);
    opts.expected_sha256_prefix = want_prefix(o);
    if (!opts.force && pn_fetch_find_weights_opts(&opts, path, n, NULL) == PN_OK) return PN_OK;
    char dir[4096], dest[4200];
    pn_status st = pn__net_dest_dir(&opts, "weights", dir, sizeof dir, err);
    if (st) return st;
    if ((st = pn_mkdirs(dir, err))) return st;
    snprintf(dest, sizeof dest, "%s/" PN_WEIGHTS_FILE, dir);
    const char *url = pn__net_url(&opts, "PNEUMO_WEIGHTS_URL", PN_WEIGHTS_URL);
    pn__net_note(&opts, PN_WEIGHTS_FILE, "downloading %s", url);
    long code;
    st = pn__net_download(&opts, url, NULL, dest, &code, err);
    if (st == PN_E_NET)
        pn_error_prefix(err,
                        "without network: download " PN_WEIGHTS_URL
                        " by hand and pass it to 'pneumo train --weights FILE' (or save it as "
                        "%s); the download failed: ",
                        dest);
    if (st) return st;
    return pn__net_copy_path(path, n, dest, dest, err);
}
