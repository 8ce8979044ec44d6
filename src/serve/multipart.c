/* pneumo serve: the file part of a multipart/form-data body (RFC 7578).
 * The whole body is in memory (bounded by the upload limit); this finds the
 * boundary lines and returns a pointer into it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "serve/serve.h"

/* boundary parameter of the Content-Type value into b (without the "--") */
static int get_boundary(const char *ct, char *b, size_t cap)
{
    const char *p = ct;
    while ((p = strchr(p, ';'))) {
        p++;
        while (*p == ' ' || *p == '\t') p++;
        if (strncasecmp(p, "boundary=", 9)) continue;
        p += 9;
        size_t n = 0;
        if (*p == '"') {
            p++;
            while (p[n] && p[n] != '"') n++;
        } else {
            while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t') n++;
        }
        if (n == 0 || n > 70 || n + 1 > cap) return -1; /* RFC 2046: 1..70 characters */
        memcpy(b, p, n);
        b[n] = 0;
        return 0;
    }
    return -1;
}

/* value of a header line (name: value) in the part header block [h, e) */
static int header_value(const uint8_t *h, const uint8_t *e, const char *name, char *out,
                        size_t cap)
{
    size_t ln = strlen(name);
    const uint8_t *p = h;
    while (p < e) {
        const uint8_t *eol = memmem(p, (size_t)(e - p), "\r\n", 2);
        if (!eol) eol = e;
        if ((size_t)(eol - p) > ln && !strncasecmp((const char *)p, name, ln) && p[ln] == ':') {
            const uint8_t *v = p + ln + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            size_t n = (size_t)(eol - v);
            if (n >= cap) n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return 1;
        }
        p = eol + 2;
    }
    return 0;
}

/* a disposition parameter (name="x" / filename="y"), -1 if absent */
static int disp_param(const char *disp, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    for (const char *p = disp; (p = strcasestr(p, key)); p += kl) {
        if (p != disp && p[-1] != ' ' && p[-1] != ';' && p[-1] != '\t') continue;
        if (p[kl] != '=') continue;
        const char *v = p + kl + 1;
        size_t n = 0;
        if (*v == '"') {
            v++;
            while (v[n] && v[n] != '"') n++;
        } else {
            while (v[n] && v[n] != ';') n++;
        }
        if (n >= cap) n = cap - 1;
        memcpy(out, v, n);
        out[n] = 0;
        return 0;
    }
    return -1;
}

pn_status pn__multipart_file(const uint8_t *body, size_t n, const char *content_type,
                             const uint8_t **part, size_t *part_n, char *part_type,
                             size_t part_type_cap, pn_error *err)
{
    char b[80], delim[84];
    *part = NULL;
    *part_n = 0;
    if (part_type_cap) part_type[0] = 0;
    if (get_boundary(content_type, b, sizeof b))
        return pn_error_set(err, PN_E_FORMAT,
                            "multipart/form-data without a valid boundary parameter");
    int dl = snprintf(delim, sizeof delim, "\r\n--%s", b);
    /* the first delimiter may start the body (no preceding CRLF) */
    const uint8_t *p, *end = body + n;
    if (n >= (size_t)dl - 2 && !memcmp(body, delim + 2, (size_t)dl - 2)) p = body + dl - 2;
    else {
        p = memmem(body, n, delim, (size_t)dl);
        if (!p) return pn_error_set(err, PN_E_FORMAT, "multipart body: no boundary line");
        p += dl;
    }
    const uint8_t *best = NULL, *named = NULL, *first = NULL;
    size_t best_n = 0, named_n = 0, first_n = 0;
    char best_t[128] = "", named_t[128] = "", first_t[128] = "";
    int parts = 0;
    for (;;) {
        /* after a delimiter: "--" ends the body, else transport padding + CRLF */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return pn_error_set(err, PN_E_FORMAT,
                                "multipart body truncated or malformed after a boundary line");
        p += 2;
        const uint8_t *hend, *data;
        if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') data = hend = p + 2; /* no headers */
        else if ((hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4))) data = hend + 4;
        else return pn_error_set(err, PN_E_FORMAT, "multipart part without the end of its headers "
                                                   "(truncated upload?)");
        const uint8_t *next = memmem(data, (size_t)(end - data), delim, (size_t)dl);
        if (!next)
            return pn_error_set(err, PN_E_FORMAT,
                                "multipart body truncated: no closing boundary line after part %d",
                                parts + 1);
        char disp[512] = "", name[128] = "", fname[256] = "", ctype[128] = "";
        header_value(p, hend, "Content-Disposition", disp, sizeof disp);
        header_value(p, hend, "Content-Type", ctype, sizeof ctype);
        int has_name = !disp_param(disp, "name", name, sizeof name);
        int has_file = !disp_param(disp, "filename", fname, sizeof fname);
        size_t len = (size_t)(next - data);
        if (!first) {
            first = data;
            first_n = len;
            snprintf(first_t, sizeof first_t, "%s", ctype);
        }
        if (has_file && !best) {
            best = data;
            best_n = len;
            snprintf(best_t, sizeof best_t, "%s", ctype);
        }
        if (has_name && !named && (!strcmp(name, "file") || !strcmp(name, "image"))) {
            named = data;
            named_n = len;
            snprintf(named_t, sizeof named_t, "%s", ctype);
        }
        parts++;
        p = next + dl;
    }
    const char *t;
    if (best) *part = best, *part_n = best_n, t = best_t;
    else if (named) *part = named, *part_n = named_n, t = named_t;
    else if (parts == 1) *part = first, *part_n = first_n, t = first_t;
    else return pn_error_set(err, PN_E_FORMAT,
                             "multipart body: %d parts, none with a filename or named "
                             "\"file\"/\"image\"",
                             parts);
    if (part_type_cap) snprintf(part_type, part_type_cap, "%s", t);
    return PN_OK;
}
