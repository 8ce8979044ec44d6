/* Error reporting: see include/pneumo/status.h. */
#include "pneumo/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

pn_status pn_error_set(pn_error *err, pn_status code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

pn_status pn_error_prefix(pn_error *err, const char *fmt, ...)
{
    if (!err) return PN_OK;
    char head[PN_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    if (n < 0) return err->code;
    size_t hl = strlen(head), ml = strlen(err->msg);
    if (hl >= sizeof err->msg) hl = sizeof err->msg - 1;
    if (hl + ml >= sizeof err->msg) ml = sizeof err->msg - 1 - hl;
    memmove(err->msg + hl, err->msg, ml);
    memcpy(err->msg, head, hl);
    err->msg[hl + ml] = '\0';
    return err->code;
}

void pn_error_clear(pn_error *err)
{
    if (err) {
        err->code = PN_OK;
        err->msg[0] = '\0';
    }
}

const char *pn_status_name(pn_status code)
{
    switch (code) {
    case PN_OK: return "ok";
    case PN_E_ARG: return "argument";
    case PN_E_IO: return "io";
    case PN_E_FORMAT: return "format";
    case PN_E_NOMEM: return "memory";
    case PN_E_UNSUPPORTED: return "unsupported";
    case PN_E_NET: return "network";
    case PN_E_BACKEND: return "backend";
    case PN_E_INTERRUPTED: return "interrupted";
    case PN_E_NUMERIC: return "numeric";
    case PN_E_NOTFOUND: return "not-found";
    }
    return "unknown";
}
