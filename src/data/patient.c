/* Patient ids from Kermany file names (REFERENCE.md B1, B3.1):
 *   personN_(bacteria|virus)_M  -> personN
 *   NORMAL2-IM-NNNN-...         -> NORMAL2-IM-NNNN
 *   IM-NNNN-...                 -> IM-NNNN */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "pneumo/dataset.h"

static size_t digits(const char *p)
{
    size_t n = 0;
    while (isdigit((unsigned char)p[n])) n++;
    return n;
}

int pn_item_patient(const pn_item *it, char *out, size_t outsize)
{
    if (it && it->patient_id && it->patient_id[0] && out && outsize) {
        snprintf(out, outsize, "%s", it->patient_id);
        return 1;
    }
    return pn_patient_id(it ? it->name : NULL, out, outsize);
}

int pn_patient_id(const char *name, char *out, size_t outsize)
{
    if (!out || outsize == 0) return 0;
    out[0] = 0;
    if (!name) return 0;
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    const char *colon = strrchr(base, ':'); /* "zip:member" display names */
    if (colon) base = colon + 1;
    size_t len = 0, d;
    if (!strncmp(base, "person", 6) && (d = digits(base + 6)) > 0 && base[6 + d] == '_')
        len = 6 + d;
    else if (!strncmp(base, "NORMAL2-IM-", 11) && (d = digits(base + 11)) > 0 &&
             (base[11 + d] == '-' || base[11 + d] == '.'))
        len = 11 + d;
    else if (!strncmp(base, "IM-", 3) && (d = digits(base + 3)) > 0 &&
             (base[3 + d] == '-' || base[3 + d] == '.'))
        len = 3 + d;
    if (len) {
        snprintf(out, outsize, "%.*s", (int)len, base);
        return 1;
    }
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(out, outsize, "%.*s", (int)stem, base);
    return 0;
}
