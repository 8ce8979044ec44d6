/* Strict parser for NumPy .npy (format 1.0, 2.0, 3.0) holding a C-order
 * uint8 or little-endian int64 array:
 *   "\x93NUMPY" major minor, header length (u16 LE for 1.x, u32 LE after),
 *   a Python dict literal {'descr': ..., 'fortran_order': False,
 *   'shape': (a, b, ...), } padded with spaces and ending in '\n',
 *   then the raw data. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "npy.h"

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    return p;
}

/* Finds 'key': in the dict text and returns the value start, or NULL. */
static const char *find_key(const char *h, const char *end, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "'%s'", key);
    size_t m = strlen(pat);
    for (const char *p = h; p + m <= end; p++)
        if (!memcmp(p, pat, m)) {
            p = skip_ws(p + m, end);
            if (p < end && *p == ':') return skip_ws(p + 1, end);
            return NULL;
        }
    return NULL;
}

pn_status pn__npy_parse(const uint8_t *buf, size_t n, const char *what, pn_npy *out,
                        pn_error *err)
{
    memset(out, 0, sizeof *out);
    if (n < 10 || memcmp(buf, "\x93NUMPY", 6))
        return pn_error_set(err, PN_E_FORMAT, "%s: not a .npy file (bad magic)", what);
    int major = buf[6];
    size_t hl, off;
    if (major == 1) {
        hl = (size_t)buf[8] | (size_t)buf[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return pn_error_set(err, PN_E_FORMAT, "%s: truncated .npy header", what);
        hl = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        off = 12;
    } else {
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: .npy format version %d.%d", what, major,
                            buf[7]);
    }
    if (hl > n - off || hl > 1 << 20)
        return pn_error_set(err, PN_E_FORMAT, "%s: truncated .npy header", what);
    const char *h = (const char *)buf + off, *end = h + hl;
    if (hl < 2 || h[0] != '{' || end[-1] != '\n')
        return pn_error_set(err, PN_E_FORMAT, "%s: malformed .npy header", what);
    const char *d = find_key(h, end, "descr"), *fo = find_key(h, end, "fortran_order"),
               *sh = find_key(h, end, "shape");
    if (!d || !fo || !sh)
        return pn_error_set(err, PN_E_FORMAT, "%s: .npy header lacks descr/fortran_order/shape",
                            what);
    if (end - d >= 5 && (!memcmp(d, "'|u1'", 5) || !memcmp(d, "'<u1'", 5)))
        out->elem = 1;
    else if (end - d >= 5 && !memcmp(d, "'<i8'", 5))
        out->elem = 8;
    else
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: .npy dtype %.*s (want |u1 or <i8)", what,
                            (int)(end - d < 8 ? end - d : 8), d);
    if (end - fo < 5 || memcmp(fo, "False", 5))
        return pn_error_set(err, PN_E_UNSUPPORTED, "%s: Fortran-order .npy array", what);
    if (*sh != '(') return pn_error_set(err, PN_E_FORMAT, "%s: bad .npy shape", what);
    const char *p = sh + 1;
    size_t total = 1;
    for (;;) {
        p = skip_ws(p, end);
        if (p < end && *p == ')') break;
        if (p >= end || !isdigit((unsigned char)*p) || out->ndim == PN_NPY_MAXDIM)
            return pn_error_set(err, PN_E_FORMAT, "%s: bad .npy shape", what);
        unsigned long long v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            v = v * 10 + (unsigned)(*p - '0');
            if (v > (1ull << 40)) return pn_error_set(err, PN_E_FORMAT, "%s: bad .npy shape", what);
            p++;
        }
        out->shape[out->ndim++] = (size_t)v;
        if ((double)total * (double)v > 1e12)
            return pn_error_set(err, PN_E_FORMAT, "%s: .npy array too large", what);
        total *= (size_t)v;
        p = skip_ws(p, end);
        if (p < end && *p == ',') p++;
        else if (p < end && *p == ')') break;
        else return pn_error_set(err, PN_E_FORMAT, "%s: bad .npy shape", what);
    }
    if (out->ndim == 0) return pn_error_set(err, PN_E_FORMAT, "%s: scalar .npy array", what);
    size_t bytes = total * (size_t)out->elem;
    if (n - off - hl != bytes)
        return pn_error_set(err, PN_E_FORMAT, "%s: .npy data is %zu bytes, shape needs %zu", what,
                            n - off - hl, bytes);
    out->numel = total;
    out->data = buf + off + hl;
    return PN_OK;
}
