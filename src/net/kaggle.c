/* Kaggle API credentials, found where the Kaggle CLI and kagglehub look. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "net/net.h"
#include "pneumo/fetch.h"
#include "pneumo/util.h"

static pn_status put(char *dst, size_t n, const char *src, const char *what, pn_error *err)
{
    size_t l = strlen(src);
    if (l >= n) return pn_error_set(err, PN_E_FORMAT, "%s: value too long", what);
    memcpy(dst, src, l + 1);
    return PN_OK;
}

pn_status pn__kaggle_credentials(char *user, size_t user_n, char *key, size_t key_n,
                                char *source, size_t source_n, pn_error *err)
{
    const char *u = getenv("KAGGLE_USERNAME"), *k = getenv("KAGGLE_KEY");
    if (u && *u && k && *k) {
        pn_status st = put(user, user_n, u, "KAGGLE_USERNAME", err);
        if (!st) st = put(key, key_n, k, "KAGGLE_KEY", err);
        if (!st) snprintf(source, source_n, "KAGGLE_USERNAME/KAGGLE_KEY");
        return st;
    }
    char path[4096];
    const char *dir = getenv("KAGGLE_CONFIG_DIR");
    const char *home = getenv("HOME");
    if (dir && *dir)
        snprintf(path, sizeof path, "%s/kaggle.json", dir);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/.kaggle/kaggle.json", home);
    else
        return pn_error_set(err, PN_E_NOTFOUND, "no Kaggle credentials (HOME is not set)");
    if (!pn_path_exists(path) && !(dir && *dir)) {
        /* newer Kaggle CLIs also read ~/.config/kaggle/kaggle.json */
        const char *x = getenv("XDG_CONFIG_HOME");
        char alt[4096];
        if (x && *x)
            snprintf(alt, sizeof alt, "%s/kaggle/kaggle.json", x);
        else
            snprintf(alt, sizeof alt, "%s/.config/kaggle/kaggle.json", home);
        if (pn_path_exists(alt)) memcpy(path, alt, strlen(alt) + 1);
    }
    uint8_t *data;
    size_t n;
    pn_status st = pn_read_file(path, 1 << 16, &data, &n, err);
    if (st == PN_E_NOTFOUND)
        return pn_error_set(err, PN_E_NOTFOUND, "no Kaggle credentials (%s not found)", path);
    if (st) return st;
    cJSON *j = cJSON_ParseWithLength((const char *)data, n);
    free(data);
    const cJSON *ju = j ? cJSON_GetObjectItemCaseSensitive(j, "username") : NULL;
    const cJSON *jk = j ? cJSON_GetObjectItemCaseSensitive(j, "key") : NULL;
    if (!cJSON_IsString(ju) || !cJSON_IsString(jk) || !*ju->valuestring || !*jk->valuestring) {
        cJSON_Delete(j);
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: expected {\"username\": \"...\", \"key\": \"...\"} "
                            "(the file Kaggle's Settings > API > Create New Token gives)",
                            path);
    }
    st = put(user, user_n, ju->valuestring, path, err);
    if (!st) st = put(key, key_n, jk->valuestring, path, err);
    cJSON_Delete(j);
    if (!st) snprintf(source, source_n, "%s", path);
    return st;
}
