/* pneumo serve: the HTTP daemon on libmicrohttpd.
 *
 * MHD runs a small pool of polling threads (http_threads). A request's body
 * is collected in memory (at most max_body bytes, all uploads together at
 * most max_upload_total); once complete, the image is decoded and
 * preprocessed on that thread, queued for the batch worker and the
 * connection suspended; the worker's notify resumes it and the handler,
 * called again, sends the JSON. SIGTERM/SIGINT: new requests get 503, those
 * in flight finish (up to drain_s), then the daemon stops. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <microhttpd.h>

#include "pneumo/util.h"
#include "serve/serve.h"

extern const unsigned char pn__web_index[];
extern const size_t pn__web_index_len;

#define IMG_FLOATS (3 * 224 * 224)

typedef struct srv {
    pn__serve_opts o;
    pn_classifier c;
    pn__batcher b;
    pn__model_info mi;
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int draining, inflight;
    size_t upload_total;
    uint64_t served, rejected;
} srv;

enum { R_NONE, R_INDEX, R_HEALTH, R_MODEL, R_PREDICT };
enum { S_READ, S_DISCARD, S_SENT, S_QUEUED, S_FAILED };

typedef struct req {
    srv *s;
    struct MHD_Connection *conn;
    int route, state, counted_inflight, multipart, want_cam, done, suspended;
    uint8_t *body;
    size_t n, cap, budget, discarded;
    int err_status;
    char err[512];
    char ctype[256];
    pn__job job;
    float *x;
    int img_w, img_h;
    double t0;
} req;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void pn__serve_opts_default(pn__serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->bind = "127.0.0.1";
    o->port = 8080;
    o->max_batch = 8;
    o->max_wait_ms = 5;
    o->max_queue = 64;
    o->max_body = 32u << 20;
    o->timeout_s = 30;
    o->http_threads = 4;
    o->max_connections = 1024;
    o->drain_s = 30;
    o->max_pixels = 64L << 20;
}

/* ---- responses ------------------------------------------------------------ */
static enum MHD_Result send_body(req *r, int status, const char *type, void *body, size_t n,
                                 enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(n, body, mode);
    if (!resp) {
        if (mode == MHD_RESPMEM_MUST_FREE) free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (status == 503) MHD_add_response_header(resp, "Retry-After", "1");
    if (status == 405)
        MHD_add_response_header(resp, "Allow", r->route == R_PREDICT ? "POST" : "GET, HEAD");
    if (status >= 400 && r->state != S_QUEUED) MHD_add_response_header(resp, "Connection", "close");
    enum MHD_Result ok = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES) r->state = S_SENT;
    return ok;
}

static enum MHD_Result send_json(req *r, int status, char *json)
{
    if (!json) return MHD_NO;
    return send_body(r, status, "application/json", json, strlen(json), MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result send_error(req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error(req *r, int status, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&r->s->mu);
    r->s->rejected++;
    pthread_mutex_unlock(&r->s->mu);
    return send_json(r, status, pn__json_error(status, msg));
}

static void release_body(req *r)
{
    if (r->budget) {
        pthread_mutex_lock(&r->s->mu);
        r->s->upload_total -= r->budget;
        pthread_mutex_unlock(&r->s->mu);
        r->budget = 0;
    }
    free(r->body);
    r->body = NULL;
    r->n = r->cap = 0;
}

/* An error found while the body is still arriving: answer now if MHD lets
 * us, else drop the rest of the body and answer at its end. */
static enum MHD_Result fail_upload(req *r, int status, const char *msg)
{
    release_body(r);
    r->err_status = status;
    snprintf(r->err, sizeof r->err, "%s", msg);
    r->state = S_DISCARD;
    char *j = pn__json_error(status, msg);
    if (!j) return MHD_NO;
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(j), j, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(j);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "Connection", "close");
    if (MHD_queue_response(r->conn, (unsigned)status, resp) == MHD_YES) r->state = S_SENT;
    MHD_destroy_response(resp);
    return MHD_YES;
}

/* ---- routing ---------------------------------------------------------------- */
static int route_of(const char *url)
{
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return R_INDEX;
    if (!strcmp(url, "/healthz")) return R_HEALTH;
    if (!strcmp(url, "/v1/model")) return R_MODEL;
    if (!strcmp(url, "/v1/predict")) return R_PREDICT;
    return R_NONE;
}

static int type_is(const char *ct, const char *t)
{
    size_t n = strlen(t);
    return !strncasecmp(ct, t, n) && (ct[n] == 0 || ct[n] == ';' || ct[n] == ' ');
}

static int truthy(const char *v)
{
    return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !*v);
}

static enum MHD_Result first_call(req *r, const char *url, const char *method)
{
    srv *s = r->s;
    int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int is_post = !strcmp(method, "POST");
    r->route = route_of(url);
    pthread_mutex_lock(&s->mu);
    int draining = s->draining;
    if (!draining) {
        s->inflight++;
        r->counted_inflight = 1;
    }
    pthread_mutex_unlock(&s->mu);
    if (draining) return send_error(r, 503, "server is shutting down");
    if (r->route == R_NONE)
        return send_error(r, 404,
                          "no such path: %.200s (POST /v1/predict, GET /v1/model, GET /healthz, "
                          "GET /)",
                          url);
    if (r->route == R_PREDICT && !is_post)
        return send_error(r, 405, "%.20s /v1/predict: use POST with the image as the body", method);
    if (r->route != R_PREDICT && !is_get)
        return send_error(r, 405, "%.20s %.200s: only GET is allowed", method, url);
    if (r->route != R_PREDICT) return MHD_YES;

    const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Type");
    if (!ct || !*ct)
        return send_error(r, 415, "no Content-Type: send image/jpeg, image/png, "
                                  "application/octet-stream or multipart/form-data");
    snprintf(r->ctype, sizeof r->ctype, "%s", ct);
    if (type_is(ct, "multipart/form-data")) r->multipart = 1;
    else if (!type_is(ct, "image/jpeg") && !type_is(ct, "image/png") &&
             !type_is(ct, "application/octet-stream") && !type_is(ct, "image/jpg"))
        return send_error(r, 415,
                          "Content-Type %.100s is not supported: send image/jpeg, image/png, "
                          "application/octet-stream or multipart/form-data",
                          ct);
    const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(cl, &end, 10);
        if (errno || *end || v > s->o.max_body)
            return send_error(r, 413, "body of %.30s bytes is over the limit of %zu bytes", cl,
                              s->o.max_body);
    }
    r->want_cam = truthy(MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "cam"));
    return MHD_YES;
}

static enum MHD_Result on_upload(req *r, const char *data, size_t len)
{
    srv *s = r->s;
    if (r->state == S_SENT) return MHD_YES; /* answered already; MHD closes after it */
    if (r->state == S_DISCARD) {
        r->discarded += len;
        /* do not read an endless body to answer it: close instead */
        if (r->discarded > 4 * s->o.max_body || now_s() - r->t0 > s->o.timeout_s) return MHD_NO;
        return MHD_YES;
    }
    if (r->route != R_PREDICT) return fail_upload(r, 400, "this request takes no body");
    if (now_s() - r->t0 > s->o.timeout_s) {
        char m[128];
        snprintf(m, sizeof m, "upload took longer than %d s", s->o.timeout_s);
        return fail_upload(r, 408, m);
    }
    if (r->n + len > s->o.max_body) {
        char m[128];
        snprintf(m, sizeof m, "body is over the limit of %zu bytes", s->o.max_body);
        return fail_upload(r, 413, m);
    }
    pthread_mutex_lock(&s->mu);
    int over = s->upload_total + len > s->o.max_upload_total;
    if (!over) s->upload_total += len;
    pthread_mutex_unlock(&s->mu);
    if (over) return fail_upload(r, 503, "server busy: too many uploads in progress; retry");
    r->budget += len;
    if (r->n + len > r->cap) {
        size_t cap = r->cap ? r->cap : 65536;
        while (cap < r->n + len) cap *= 2;
        uint8_t *nb = realloc(r->body, cap);
        if (!nb) return fail_upload(r, 503, "server out of memory for the upload");
        r->body = nb;
        r->cap = cap;
    }
    memcpy(r->body + r->n, data, len);
    r->n += len;
    return MHD_YES;
}

static void job_done(void *arg)
{
    req *r = arg;
    srv *s = r->s;
    pthread_mutex_lock(&s->mu);
    r->done = 1;
    if (r->suspended) MHD_resume_connection(r->conn);
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result start_predict(req *r)
{
    srv *s = r->s;
    if (!r->n) return send_error(r, 400, "empty body: send the image (JPEG or PNG) as the body");
    const uint8_t *img_p = r->body;
    size_t img_n = r->n;
    pn_error e = {0};
    if (r->multipart) {
        char pt[128];
        if (pn__multipart_file(r->body, r->n, r->ctype, &img_p, &img_n, pt, sizeof pt, &e)) {
            release_body(r);
            return send_error(r, 400, "%s", e.msg);
        }
        if (!img_n) {
            release_body(r);
            return send_error(r, 400, "multipart body: the file part is empty");
        }
    }
    pn_image img = {0};
    pn_decode_opts dopt = {.max_pixels = s->o.max_pixels};
    pn_status st = pn_image_decode(img_p, img_n, "upload", &dopt, &img, &e);
    release_body(r);
    if (!st) {
        r->img_w = img.w;
        r->img_h = img.h;
        r->x = malloc(IMG_FLOATS * sizeof(float));
        if (!r->x) st = pn_error_set(&e, PN_E_NOMEM, "out of memory");
        else st = pn_preprocess(&img, 224, r->x, NULL, NULL, &e);
    }
    pn_image_free(&img);
    if (st) {
        if (st == PN_E_NOMEM && strstr(e.msg, "pixel"))
            return send_error(r, 413, "%s", e.msg);
        if (st == PN_E_NOMEM) return send_error(r, 503, "%s", e.msg);
        return send_error(r, 400, "not a usable JPEG or PNG image: %s", e.msg);
    }
    r->job.x = r->x;
    r->job.want_cam = r->want_cam;
    r->job.notify = job_done;
    r->job.arg = r;
    pthread_mutex_lock(&s->mu);
    if (pn__batcher_submit(&s->b, &r->job)) {
        int draining = s->draining;
        pthread_mutex_unlock(&s->mu);
        if (draining) return send_error(r, 503, "server is shutting down");
        return send_error(r, 503, "server busy: %d images queued (--max-queue); retry",
                          s->o.max_queue);
    }
    r->state = S_QUEUED;
    if (!r->done) {
        r->suspended = 1;
        MHD_suspend_connection(r->conn);
    }
    pthread_mutex_unlock(&s->mu);
    return MHD_YES;
}

static enum MHD_Result send_result(req *r)
{
    srv *s = r->s;
    r->suspended = 0;
    if (r->job.st) return send_error(r, 500, "classifier failed: %s", r->job.msg);
    pn_error e = {0};
    char *j = pn__json_predict(&s->c, &s->mi, &r->job, r->img_w, r->img_h, &e);
    if (!j) return send_error(r, 500, "%s", e.msg[0] ? e.msg : "out of memory");
    pthread_mutex_lock(&s->mu);
    s->served++;
    pthread_mutex_unlock(&s->mu);
    return send_json(r, 200, j);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
                               const char *method, const char *version, const char *upload_data,
                               size_t *upload_data_size, void **con_cls)
{
    srv *s = cls;
    req *r = *con_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        r->s = s;
        r->conn = conn;
        r->t0 = now_s();
        *con_cls = r;
        return first_call(r, url, method);
    }
    if (*upload_data_size) {
        size_t len = *upload_data_size;
        *upload_data_size = 0;
        return on_upload(r, upload_data, len);
    }
    switch (r->state) {
    case S_SENT: return MHD_YES;
    case S_DISCARD: return send_error(r, r->err_status, "%s", r->err);
    case S_QUEUED:
        if (!r->done) { /* spurious resume: wait again */
            pthread_mutex_lock(&s->mu);
            if (!r->done) {
                r->suspended = 1;
                MHD_suspend_connection(conn);
            }
            pthread_mutex_unlock(&s->mu);
            if (!r->done) return MHD_YES;
        }
        return send_result(r);
    default: break;
    }
    switch (r->route) {
    case R_INDEX:
        return send_body(r, 200, "text/html; charset=utf-8", (void *)pn__web_index,
                         pn__web_index_len, MHD_RESPMEM_PERSISTENT);
    case R_HEALTH: {
        char buf[256];
        uint64_t batches;
        int queued = pn__batcher_stats(&s->b, &batches);
        pthread_mutex_lock(&s->mu);
        snprintf(buf, sizeof buf,
                 "{\"status\":\"ok\",\"queued\":%d,\"in_flight\":%d,\"served\":%llu,"
                 "\"batches\":%llu}",
                 queued, s->inflight, (unsigned long long)s->served, (unsigned long long)batches);
        pthread_mutex_unlock(&s->mu);
        return send_json(r, 200, strdup(buf));
    }
    case R_MODEL: return send_json(r, 200, pn__json_model(&s->c, &s->mi, &s->o));
    case R_PREDICT: return start_predict(r);
    default: return send_error(r, 404, "no such path");
    }
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    srv *s = cls;
    req *r = *con_cls;
    if (!r) return;
    release_body(r);
    free(r->x);
    pthread_mutex_lock(&s->mu);
    if (r->counted_inflight) {
        s->inflight--;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    free(r);
    *con_cls = NULL;
}

/* ---- run ---------------------------------------------------------------- */
static pn_status model_info(const char *path, double thr, pn__model_info *mi, pn_error *err)
{
    uint8_t h[32];
    pn_status st = pn_sha256_file(path, h, err);
    if (st) return st;
    pn_hex(h, 32, mi->sha256);
    const char *b = strrchr(path, '/');
    snprintf(mi->name, sizeof mi->name, "%s", b ? b + 1 : path);
    struct stat sb;
    mi->date[0] = 0;
    if (!stat(path, &sb)) {
        struct tm tm;
        gmtime_r(&sb.st_mtime, &tm);
        strftime(mi->date, sizeof mi->date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    }
    mi->threshold = thr;
    return PN_OK;
}

pn_status pn__serve_run(const pn__serve_opts *o, pn_error *err)
{
    srv *s = calloc(1, sizeof *s);
    if (!s) return pn_error_set(err, PN_E_NOMEM, "out of memory");
    s->o = *o;
    if (!s->o.max_upload_total) s->o.max_upload_total = 8 * s->o.max_body;
    if (s->o.max_upload_total < s->o.max_body) s->o.max_upload_total = s->o.max_body;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    /* SIGTERM/SIGINT are taken by sigwait below: block them before any
     * thread (OpenMP's, MHD's, the batcher's) is created */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    pn_status st;
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } sa;
    memset(&sa, 0, sizeof sa);
    int v6 = strchr(o->bind, ':') != NULL;
    if (v6) {
        sa.v6.sin6_family = AF_INET6;
        sa.v6.sin6_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET6, o->bind, &sa.v6.sin6_addr) != 1) {
            st = pn_error_set(err, PN_E_ARG, "--bind %s: not an IPv6 address", o->bind);
            goto out;
        }
    } else {
        sa.v4.sin_family = AF_INET;
        sa.v4.sin_port = htons((uint16_t)o->port);
        if (inet_pton(AF_INET, o->bind, &sa.v4.sin_addr) != 1) {
            st = pn_error_set(err, PN_E_ARG, "--bind %s: not an IPv4 address", o->bind);
            goto out;
        }
    }
    st = pn_classifier_open(&s->c, o->model, o->max_batch, o->threads, 0, 1, err);
    if (st) goto out;
    if (s->c.classes > 16) {
        st = pn_error_set(err, PN_E_UNSUPPORTED, "%s: %d classes", o->model, s->c.classes);
        goto out;
    }
    st = model_info(o->model, s->c.meta.threshold, &s->mi, err);
    if (st) goto out;
    st = pn__batcher_start(&s->b, &s->c, s->mi.threshold, o->max_batch, o->max_queue,
                           o->max_wait_ms, err);
    if (st) goto out;
    /* one descriptor per connection: raise the soft limit (often 1024) */
    struct rlimit rl;
    if (!getrlimit(RLIMIT_NOFILE, &rl)) {
        rlim_t want = (rlim_t)s->o.max_connections + 64;
        if (rl.rlim_cur < want) {
            rl.rlim_cur = rl.rlim_max < want ? rl.rlim_max : want;
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur < want) {
            int m = rl.rlim_cur > 128 ? (int)rl.rlim_cur - 64 : 64;
            fprintf(stderr, "pneumo serve: open-file limit %llu: at most %d connections\n",
                    (unsigned long long)rl.rlim_cur, m);
            s->o.max_connections = m;
        }
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                     MHD_USE_AUTO | (v6 ? MHD_USE_IPv6 : 0);
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handler, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->http_threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_END);
    if (!s->d) {
        st = pn_error_set(err, PN_E_IO, "cannot listen on %s port %d: %s", o->bind, o->port,
                          strerror(errno));
        goto out;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    int port = di ? (int)di->port : o->port;
    printf("pneumo serve: http://%s%s%s:%d/  model %s (sha256 %.12s…, threshold %.4g), batch <= "
           "%d, wait <= %d ms, queue <= %d\n",
           v6 ? "[" : "", o->bind, v6 ? "]" : "", port, s->mi.name, s->mi.sha256,
           s->mi.threshold, o->max_batch, o->max_wait_ms, o->max_queue);
    fflush(stdout);
    if (o->port_file) {
        char buf[32];
        int n = snprintf(buf, sizeof buf, "%d\n", port);
        st = pn_write_file_atomic(o->port_file, buf, (size_t)n, err);
        if (st) goto out;
    }
    int sig = 0;
    sigwait(&sigs, &sig);
    pthread_mutex_lock(&s->mu);
    s->draining = 1;
    int left = s->inflight;
    pthread_mutex_unlock(&s->mu);
    fprintf(stderr, "pneumo serve: %s: finishing %d request%s in flight, refusing new ones\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", left, left == 1 ? "" : "s");
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += o->drain_s;
    pthread_mutex_lock(&s->mu);
    while (s->inflight > 0)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
    left = s->inflight;
    pthread_mutex_unlock(&s->mu);
    if (left)
        fprintf(stderr, "pneumo serve: %d request%s still in flight after %d s, closing them\n",
                left, left == 1 ? "" : "s", o->drain_s);
    MHD_quiesce_daemon(s->d);
    /* suspended connections cannot be closed by MHD_stop_daemon: let the
     * batcher finish them first */
    pn__batcher_stop(&s->b);
    if (left) {
        clock_gettime(CLOCK_REALTIME, &dl);
        dl.tv_sec += 2;
        pthread_mutex_lock(&s->mu);
        while (s->inflight > 0)
            if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) == ETIMEDOUT) break;
        pthread_mutex_unlock(&s->mu);
    }
    MHD_stop_daemon(s->d);
    s->d = NULL;
    fprintf(stderr, "pneumo serve: stopped (%llu predictions served, %llu batches)\n",
            (unsigned long long)s->served, (unsigned long long)s->b.batches);
    st = PN_OK;
out:
    if (s->d) MHD_stop_daemon(s->d);
    pn__batcher_stop(&s->b);
    pn_classifier_free(&s->c);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return st;
}
