/* One file over HTTP(S) with libcurl: resume from "<dest>.part" with Range,
 * retry transient errors with exponential backoff, stall timeout, verify the
 * size and the SHA-256 prefix, then rename into place. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "net/net.h"
#include "pneumo/fetch.h"
#include "pneumo/util.h"
#include "pneumo/version.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_OK;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

/* State of one attempt (one curl_easy_perform). */
typedef struct dl {
    CURL *curl;
    int fd;            /* the .part file */
    const char *part;  /* its path */
    const char *meta;  /* "<part>.validator": ETag / Last-Modified of the file in .part */
    int64_t offset;    /* bytes in .part when the attempt started (Range start) */
    int64_t have;      /* bytes in .part now */
    int64_t total;     /* expected total size, -1 unknown */
    /* from the headers of the current response */
    long status;
    int64_t content_length;
    char content_range[160];
    char etag[256];          /* strong ETag, or "" */
    char last_modified[128]; /* Last-Modified, or "" */
    int body_started;
    /* outcomes */
    int restarted;     /* server ignored Range: .part truncated, restarted at 0 */
    int bad_range;     /* 206 with a Content-Range that doesn't start at offset */
    int write_errno;   /* write() failed */
    int no_room;       /* the rest of the file won't fit on the disk */
    int64_t need;      /* bytes still to come */
    double avail;      /* free bytes on the disk */
    const pn_fetch_opts *o; /* where progress is reported */
    const char *label;      /* the destination's file name */
} dl;

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    dl *d = ud;
    size_t n = size * nitems;
    if (n >= 5 && !strncmp(buf, "HTTP/", 5)) { /* a new response (redirects too) */
        const char *sp = memchr(buf, ' ', n);
        d->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        d->content_length = -1;
        d->content_range[0] = '\0';
        d->etag[0] = d->last_modified[0] = '\0';
        d->body_started = 0;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon) return n;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' ')) vlen--;
    if (klen == 14 && !strncasecmp(buf, "Content-Length", 14)) {
        char tmp[32];
        if (vlen < sizeof tmp) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            char *end;
            long long x = strtoll(tmp, &end, 10);
            if (end != tmp && *end == '\0' && x >= 0) d->content_length = x;
        }
    } else if (klen == 13 && !strncasecmp(buf, "Content-Range", 13)) {
        if (vlen >= sizeof d->content_range) vlen = sizeof d->content_range - 1;
        memcpy(d->content_range, v, vlen);
        d->content_range[vlen] = '\0';
    } else if (klen == 4 && !strncasecmp(buf, "ETag", 4)) {
        /* If-Range takes only strong validators: skip W/"..." */
        if (vlen < sizeof d->etag && !(vlen >= 2 && v[0] == 'W' && v[1] == '/')) {
            memcpy(d->etag, v, vlen);
            d->etag[vlen] = '\0';
        }
    } else if (klen == 13 && !strncasecmp(buf, "Last-Modified", 13)) {
        if (vlen < sizeof d->last_modified) {
            memcpy(d->last_modified, v, vlen);
            d->last_modified[vlen] = '\0';
        }
    }
    return n;
}

/* "bytes START-END/TOTAL" (TOTAL may be '*'): 0 on success. */
static int parse_content_range(const char *s, int64_t *start, int64_t *end, int64_t *total)
{
    long long a, b;
    char tot[32];
    if (sscanf(s, "bytes %lld-%lld/%31s", &a, &b, tot) != 3) return -1;
    if (a < 0 || b < a) return -1;
    *start = a;
    *end = b;
    if (!strcmp(tot, "*")) {
        *total = -1;
    } else {
        char *e;
        long long t = strtoll(tot, &e, 10);
        if (*e || t <= b) return -1;
        *total = t;
    }
    return 0;
}

/* Remove the .part and its validator. */
static void drop_part(dl *d)
{
    unlink(d->part);
    unlink(d->meta);
}

/* A fresh download (200): remember the file's validator, so that a resumed
 * request can send If-Range and get the whole new file if it changed. */
static void save_validator(dl *d)
{
    const char *v = d->etag[0] ? d->etag : d->last_modified;
    if (*v)
        pn_write_file_atomic(d->meta, v, strlen(v), NULL);
    else
        unlink(d->meta);
}

/* First body bytes of the final response: decide where they go. */
static int start_body(dl *d)
{
    d->body_started = 1;
    long code = d->status;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206) {
        int64_t a, b, t;
        if (parse_content_range(d->content_range, &a, &b, &t) != 0 || a != d->offset) {
            d->bad_range = 1;
            return -1;
        }
        if (t >= 0) d->total = t;
        return 0;
    }
    /* 200 (or another 2xx): the whole file from byte 0. */
    if (d->offset > 0 || d->have > 0) {
        if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) {
            d->write_errno = errno;
            return -1;
        }
        d->restarted = d->offset > 0;
        d->offset = 0;
        d->have = 0;
    }
    d->total = d->content_length;
    save_validator(d);
    return 0;
}

/* Before the first byte: is there room for the rest of the file? */
static int room_for(dl *d)
{
    if (d->total < 0) return 1;
    struct statvfs v;
    if (fstatvfs(d->fd, &v) != 0) return 1; /* can't tell: writes will */
    double avail = (double)v.f_bavail * (double)v.f_frsize;
    d->need = d->total - d->have;
    d->avail = avail;
    return (double)d->need <= avail;
}

static size_t on_body(char *buf, size_t size, size_t nmemb, void *ud)
{
    dl *d = ud;
    size_t n = size * nmemb;
    if (!d->body_started) {
        if (start_body(d) != 0) return 0; /* aborts: CURLE_WRITE_ERROR */
        if (!room_for(d)) {
            d->no_room = 1;
            return 0;
        }
    }
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(d->fd, buf + done, n - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            d->write_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    d->have += (int64_t)n;
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    dl *d = ud;
    if (d->body_started) pn__net_report(d->o, PN_FETCH_BYTES, d->label, d->have, d->total, NULL);
    return 0;
}

static int is_transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static int is_transient_http(long code)
{
    return code >= 500 || code == 408 || code == 429;
}

/* The proxy libcurl takes from the environment for this URL, if any (for
 * error messages). */
static const char *env_proxy(const char *url)
{
    const char *names_https[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    const char *names_http[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
    int https = !strncasecmp(url, "https:", 6);
    const char **names = https ? names_https : names_http;
    size_t k = https ? 4 : 3;
    for (size_t i = 0; i < k; i++) {
        const char *v = getenv(names[i]);
        if (v && *v) return v;
    }
    return NULL;
}

static void sleep_s(double s)
{
    if (s <= 0) return;
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static pn_status verify_and_commit(const pn_fetch_opts *o, const char *url, dl *d,
                                   const char *dest, pn_error *err)
{
    if (o->expected_size >= 0 && d->have != o->expected_size) {
        drop_part(d);
        return pn_error_set(err, PN_E_FORMAT,
                            "%s: %" PRId64 " bytes, expected %" PRId64
                            "; the file was removed",
                            url, d->have, o->expected_size);
    }
    if (fsync(d->fd) != 0) {
        int e = errno;
        drop_part(d);
        return pn_error_set(err, PN_E_IO, "%s: cannot write: %s", d->part, strerror(e));
    }
    const char *prefix = o->expected_sha256_prefix;
    if (prefix && *prefix) {
        uint8_t h[32];
        char hex[65];
        pn_status st = pn_sha256_file(d->part, h, err);
        if (st) {
            drop_part(d);
            return st;
        }
        pn_hex(h, 32, hex);
        size_t pl = strlen(prefix);
        if (pl > 64 || strncasecmp(hex, prefix, pl) != 0) {
            drop_part(d);
            return pn_error_set(err, PN_E_FORMAT,
                                "%s: bad checksum: SHA-256 is %s, expected it to begin with %s; "
                                "the download was removed",
                                url, hex, prefix);
        }
    }
    if (rename(d->part, dest) != 0) {
        int e = errno;
        drop_part(d);
        return pn_error_set(err, PN_E_IO, "%s: cannot move into place: %s", dest, strerror(e));
    }
    pn__fsync_parent(dest);
    return PN_OK;
}

pn_status pn_download(const pn_fetch_opts *o, const char *url, const char *userpwd,
                      const char *dest_path, pn_error *err)
{
    long code;
    return pn__net_download(o, url, userpwd, dest_path, &code, err);
}

pn_status pn__net_download(const pn_fetch_opts *o, const char *url, const char *userpwd,
                          const char *dest_path, long *http_code, pn_error *err)
{
    *http_code = 0;
    pn_fetch_opts defaults;
    if (!o) {
        pn_fetch_opts_init(&defaults);
        o = &defaults;
    }
    if (!url || !*url || !dest_path || !*dest_path)
        return pn_error_set(err, PN_E_ARG, "download: missing URL or destination");
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return pn_error_set(err, PN_E_NET, "libcurl init failed: %s",
                            curl_easy_strerror(curl_init_rc));

    char part[4096], meta[4200];
    if (snprintf(part, sizeof part, "%s.part", dest_path) >= (int)sizeof part)
        return pn_error_set(err, PN_E_ARG, "%s: path too long", dest_path);
    snprintf(meta, sizeof meta, "%s.validator", part);

    int fd = open(part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return pn_error_set(err, PN_E_IO, "%s: cannot create: %s", part, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return pn_error_set(err, PN_E_IO, "%s: another pneumo is downloading this file", part);
    }

    CURL *c = curl_easy_init();
    if (!c) {
        close(fd);
        return pn_error_set(err, PN_E_NOMEM, "libcurl: cannot create a handle");
    }
    char errbuf[CURL_ERROR_SIZE];
    double connect_s = o->connect_timeout_s > 0 ? o->connect_timeout_s : 30.0;
    double stall_s = o->stall_timeout_s > 0 ? o->stall_timeout_s : 60.0;
    long stall_time = (long)stall_s < 1 ? 1 : (long)(stall_s + 0.5);
    long stall_bps = o->stall_bytes_per_s > 0 ? o->stall_bytes_per_s : 1;
    int retries = o->retries >= 0 ? o->retries : 5;
    double backoff = o->backoff_s > 0 ? o->backoff_s : 1.0;

    dl d = {0};
    d.curl = c;
    d.fd = fd;
    d.part = part;
    d.meta = meta;
    d.total = -1;
    d.o = o;

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    /* Credentials go to the first host only (libcurl's default; never set
     * CURLOPT_UNRESTRICTED_AUTH): Kaggle redirects to a storage host. */
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_USERAGENT, "pneumo/" PNEUMO_VERSION " (libcurl)");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(connect_s * 1000));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, stall_bps);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, stall_time);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &d);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &d);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &d);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    if (userpwd) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    }

    const char *label = base_name(dest_path);
    d.label = label;
    struct curl_slist *hdrs = NULL;
    pn_status st = PN_OK;
    int attempt = 0;
    double wait = backoff;
    for (;;) {
        struct stat sb;
        if (fstat(fd, &sb) != 0) {
            st = pn_error_set(err, PN_E_IO, "%s: %s", part, strerror(errno));
            break;
        }
        d.offset = d.have = (int64_t)sb.st_size;
        if (lseek(fd, 0, SEEK_END) < 0) {
            st = pn_error_set(err, PN_E_IO, "%s: %s", part, strerror(errno));
            break;
        }
        d.status = 0;
        d.total = -1;
        d.content_length = -1;
        d.content_range[0] = '\0';
        d.body_started = 0;
        d.restarted = d.bad_range = d.write_errno = d.no_room = 0;
        errbuf[0] = '\0';
        /* CURLOPT_RANGE, not RESUME_FROM: we check the answer ourselves and
         * take a 200 (Range ignored) as a restart rather than an error */
        char range[64];
        snprintf(range, sizeof range, "%" PRId64 "-", d.offset);
        curl_easy_setopt(c, CURLOPT_RANGE, d.offset > 0 ? range : NULL);
        /* If-Range: the rest only if the file is still the one in .part */
        curl_slist_free_all(hdrs);
        hdrs = NULL;
        if (d.offset > 0) {
            uint8_t *v = NULL;
            size_t vn = 0;
            if (pn_read_file(meta, 512, &v, &vn, NULL) == PN_OK && vn > 0 &&
                !memchr(v, '\n', vn) && !memchr(v, '\r', vn)) {
                char h[600];
                snprintf(h, sizeof h, "If-Range: %s", (const char *)v);
                hdrs = curl_slist_append(NULL, h);
            }
            free(v);
        }
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        pn__net_report(o, PN_FETCH_START, label, d.offset, -1, NULL);

        CURLcode rc = curl_easy_perform(c);
        long code = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        *http_code = code;
        if (d.restarted)
            pn__net_note(o, label, "%s: the server ignored the Range request; started again at 0",
                         label);

        if (rc == CURLE_OK) {
            if (code < 200 || code >= 300) {
                st = pn_error_set(err, PN_E_NET, "%s: unexpected HTTP status %ld", url, code);
                break;
            }
            /* an empty body: the headers still say what the file is */
            if (!d.body_started && start_body(&d) != 0) {
                if (d.write_errno) {
                    st = pn_error_set(err, PN_E_IO, "%s: %s", part, strerror(d.write_errno));
                    break;
                }
                rc = CURLE_WRITE_ERROR; /* bad Content-Range: handled below */
            }
        }
        if (rc == CURLE_OK) {
            pn__net_report(o, PN_FETCH_END, label, d.have, d.total, NULL);
            if (d.total >= 0 && d.have != d.total) {
                /* the server sent less or more than it announced: start over */
                st = pn_error_set(err, PN_E_NET,
                                  "%s: got %" PRId64 " bytes but the server announced %" PRId64,
                                  url, d.have, d.total);
                if (attempt >= retries || ftruncate(fd, 0) != 0) {
                    drop_part(&d);
                    pn_error_prefix(err, "after %d attempts: ", attempt + 1);
                    break;
                }
                attempt++;
                sleep_s(wait);
                wait = wait * 2 > 60 ? 60 : wait * 2;
                continue;
            }
            st = verify_and_commit(o, url, &d, dest_path, err);
            if (!st) unlink(meta);
            close(fd);
            fd = -1;
            curl_easy_cleanup(c);
            curl_slist_free_all(hdrs);
            return st;
        }

        /* failure: classify */
        const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
        int transient = 0;
        if (rc == CURLE_WRITE_ERROR && d.write_errno) {
            int e = d.write_errno;
            drop_part(&d);
            st = pn_error_set(err, PN_E_IO, "%s: %s while downloading %s; the partial file was removed",
                              part, e == ENOSPC ? "disk full (no space left on device)" : strerror(e),
                              url);
            break;
        } else if (rc == CURLE_WRITE_ERROR && d.no_room) {
            char need[32], avail[32];
            drop_part(&d);
            st = pn_error_set(err, PN_E_IO,
                              "%s: not enough free space for %s: it needs %s more, %s free; "
                              "nothing was kept",
                              part, url, pn__fmt_bytes((double)d.need, need, sizeof need),
                              pn__fmt_bytes(d.avail, avail, sizeof avail));
            break;
        } else if (rc == CURLE_WRITE_ERROR && d.bad_range) {
            if (ftruncate(fd, 0) != 0) {
                st = pn_error_set(err, PN_E_IO, "%s: %s", part, strerror(errno));
                break;
            }
            st = pn_error_set(err, PN_E_NET,
                              "%s: the server answered a Range request from byte %" PRId64
                              " with Content-Range '%s'",
                              url, d.offset, d.content_range);
            transient = 1;
        } else if (rc == CURLE_HTTP_RETURNED_ERROR) {
            if (code == 416 && d.offset > 0) {
                /* our .part is not a prefix of what is there now: start over */
                if (ftruncate(fd, 0) != 0) {
                    st = pn_error_set(err, PN_E_IO, "%s: %s", part, strerror(errno));
                    break;
                }
                st = pn_error_set(err, PN_E_NET, "%s: HTTP 416 for a resumed download", url);
                transient = 1;
            } else {
                st = pn_error_set(err, PN_E_NET, "%s: HTTP %ld%s", url, code,
                                  code == 404 ? " (not found)"
                                  : code == 401 ? " (unauthorized)"
                                  : code == 403 ? " (forbidden)"
                                                : "");
                transient = is_transient_http(code);
            }
        } else if (rc == CURLE_OPERATION_TIMEDOUT) {
            st = pn_error_set(err, PN_E_NET, "%s: timed out (%s)", url, why);
            transient = 1;
        } else if (rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_PROXY ||
                   (env_proxy(url) &&
                                                          (rc == CURLE_COULDNT_CONNECT ||
                                                           rc == CURLE_RECV_ERROR))) {
            st = pn_error_set(err, PN_E_NET, "%s: proxy error (proxy %s from the environment): %s",
                              url, env_proxy(url) ? env_proxy(url) : "?", why);
            transient = rc != CURLE_COULDNT_RESOLVE_PROXY && rc != CURLE_PROXY;
        } else if (rc == CURLE_COULDNT_RESOLVE_HOST) {
            st = pn_error_set(err, PN_E_NET, "%s: no network or DNS failure: %s", url, why);
        } else {
            st = pn_error_set(err, PN_E_NET, "%s: %s", url, why);
            transient = is_transient_curl(rc);
        }
        if (!transient || attempt >= retries) {
            pn__net_report(o, PN_FETCH_END, label, d.have, d.total, NULL);
            if (attempt > 0) pn_error_prefix(err, "after %d attempts: ", attempt + 1);
            break;
        }
        attempt++;
        if (o->progress) {
            char note[PN_ERROR_MSG_MAX + 64];
            snprintf(note, sizeof note, "%s; retry %d of %d in %.1f s", err ? err->msg : why,
                     attempt, retries, wait);
            pn__net_report(o, PN_FETCH_END, label, d.have, d.total, note);
        }
        sleep_s(wait);
        wait = wait * 2 > 60 ? 60 : wait * 2;
    }
    /* failed: keep a non-empty .part for resuming, never an empty one */
    struct stat sb;
    if (fd >= 0) {
        if (fstat(fd, &sb) == 0 && sb.st_size == 0) drop_part(&d);
        close(fd);
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return st;
}
