/* pneumo: status codes and error reporting.
 *
 * Every library call that can fail returns a pn_status and, when given a
 * non-NULL pn_error*, fills it with a one-line human message that names the
 * file/tensor/option involved and the reason. The library never calls
 * exit(), abort() or assert() on caller input.
 *
 *     pn_error err = {0};
 *     if (pn_something(..., &err) != PN_OK) fprintf(stderr, "pneumo: %s\n", err.msg);
 */
#ifndef PNEUMO_STATUS_H
#define PNEUMO_STATUS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pn_status {
    PN_OK = 0,
    PN_E_ARG,         /* bad argument, shape or configuration from the caller */
    PN_E_IO,          /* file system error (open, read, write, rename, ...) */
    PN_E_FORMAT,      /* malformed, truncated or unsupported file content */
    PN_E_NOMEM,       /* allocation failed or request over a documented limit */
    PN_E_UNSUPPORTED, /* valid but not supported (dtype, layout, CPU feature) */
    PN_E_NET,         /* network / HTTP failure */
    PN_E_BACKEND,     /* oneDNN (or another backend library) failed */
    PN_E_INTERRUPTED, /* stopped by a signal or a cancel request */
    PN_E_NUMERIC,     /* NaN or Inf where a finite number was required */
    PN_E_NOTFOUND,    /* a requested file, key or item does not exist */
} pn_status;

#define PN_ERROR_MSG_MAX 1024

typedef struct pn_error {
    pn_status code;
    char msg[PN_ERROR_MSG_MAX];
} pn_error;

/* Set err (if non-NULL) to code and a printf-style message; returns code. */
pn_status pn_error_set(pn_error *err, pn_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context to an existing message ("loading model.pth: " + msg);
 * returns err->code (PN_OK if err is NULL). */
pn_status pn_error_prefix(pn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

void pn_error_clear(pn_error *err);

/* Return the status of `call` from the enclosing function when it is not PN_OK. */
#define PN_TRY(call)                                                           \
    do {                                                                       \
        pn_status pn_try_s_ = (call);                                          \
        if (pn_try_s_ != PN_OK) return pn_try_s_;                              \
    } while (0)

/* Short stable name of a status, e.g. "format". */
const char *pn_status_name(pn_status code);

#ifdef __cplusplus
}
#endif
#endif
