/* Helpers shared inside src/report/ (and its tests); not public API. */
#ifndef PN_REPORT_INTERNAL_H
#define PN_REPORT_INTERNAL_H

#include <stddef.h>

/* One CSV field (RFC 4180): s itself, or s in double quotes with quotes
 * doubled when it holds a comma, quote, CR/LF or edge spaces. Written into
 * buf (truncated to bufsize); returns buf. */
const char *pn__csv_field(const char *s, char *buf, size_t bufsize);


#endif
