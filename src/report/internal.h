/* Helpers shared inside src/report/ (and its tests); not public API. */
#ifndef PN_REPORT_INTERNAL_H
#define PN_REPORT_INTERNAL_H

#include <stddef.h>

#include "pneumo/eval.h"

/* One CSV field (RFC 4180): s itself, or s in double quotes with quotes
 * doubled when it holds a comma, quote, CR/LF or edge spaces. Written into
 * buf (truncated to bufsize); returns buf. */
const char *pn__csv_field(const char *s, char *buf, size_t bufsize);

/* cJSON objects of metrics.json (and eval --json): a split's metrics with
 * their 95% intervals (and the bootstrap's when boot is non-NULL). */
struct cJSON;
struct cJSON *pn__metrics_obj(const pn_metrics *m, const char *const *class_names,
                              const pn_bootstrap *boot);
struct cJSON *pn__bootstrap_obj(const pn_bootstrap *b);

#endif
