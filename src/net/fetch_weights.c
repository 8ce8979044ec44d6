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

/* 1 when path is a regular file whose SHA-256 starts with prefix; 0 when
 * there is none; -1 when there is one with another hash (hex in bad). */
static int hash_ok(const char *path, const char *prefix, char bad[65])
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    if (!*prefix) return 1;
    uint8_t h[32];
    char hex[65];
    if (pn_sha256_file(path, h, NULL) != PN_OK) return 0;
    pn_hex(h, 32, hex);
    if (strlen(prefix) <= 64 && !strncasecmp(hex, prefix, strlen(prefix))) return 1;
    memcpy(bad, hex, 65);
    return -1;
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
    char dir[4096], ours[4200], torch[4096], theirs[4200] = "", bad[2][65] = {"", ""};
    pn_status st = pn__net_dest_dir(o, "weights", dir, sizeof dir, err);
    if (st) return st;
    snprintf(ours, sizeof ours, "%s/" PN_WEIGHTS_FILE, dir);
    if (hash_ok(ours, prefix, bad[0]) == 1) return pn__net_copy_path(path, n, ours, ours, err);
    int reuse = !(o && (o->no_reuse || (o->dest_dir && *o->dest_dir)));
    if (reuse && torch_checkpoints(torch, sizeof torch)) {
        snprintf(theirs, sizeof theirs, "%s/" PN_WEIGHTS_FILE, torch);
        if (hash_ok(theirs, prefix, bad[1]) == 1) return pn__net_copy_path(path, n, theirs, theirs, err);
    }
    /* a file in the right place with the wrong content is named, never skipped silently */
    char why[9000] = "";
    for (int i = 0; i < 2; i++)
        if (bad[i][0])
            snprintf(why + strlen(why), sizeof why - strlen(why),
                     "; %s exists but its SHA-256 is %.16s..., not %s... (damaged or another file: "
                     "remove it, or 'pneumo fetch weights --force' downloads it again)",
                     i ? theirs : ours, bad[i], prefix);
    return pn_error_set(err, PN_E_NOTFOUND,
                        "no ResNet-18 weights with a SHA-256 beginning %s found (looked for "
                        "%s%s%s)%s: run 'pneumo fetch weights' to download them, or pass "
                        "--weights FILE",
                        prefix, ours, *theirs ? " and " : "", theirs, why);
}

pn_status pn_fetch_weights(const pn_fetch_opts *o, char *path, size_t n, pn_error *err)
{
    pn_fetch_opts opts;
    if (o)
        opts = *o;
    else
        pn_fetch_opts_init(&opts);
    opts.expected_sha256_prefix = want_prefix(o);
    pn_error fe = {0};
    if (!opts.force && pn_fetch_find_weights_opts(&opts, path, n, &fe) == PN_OK) return PN_OK;
    const char *why = strstr(fe.msg, "; ");
    if (!opts.force && why) /* say why a file that is there is not used */
        pn__net_note(&opts, PN_WEIGHTS_FILE, "%.*s", (int)(strcspn(why + 2, ")") + 1), why + 2);
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
