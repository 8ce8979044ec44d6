/* pneumo serve: the HTTP side on libmicrohttpd — routes, uploads and their
 * limits, the predict request's suspend/resume around the batcher, JSON
 * answers. A request's body is collected in memory (at most max_body bytes,
 * all uploads together at most max_upload_total); once complete, the image
 * is decoded and preprocessed on that (MHD pool) thread, queued for the batch
 * worker and the connection suspended; the worker's notify resumes it and
 * the handler, called again, sends the JSON. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "serve/http.h"

extern const unsigned char pn__web_index[];
extern const size_t pn__web_index_len;

#define IMG_FLOATS (3 * 224 * 224)

enum { R_NONE, R_INDEX, R_HEALTH, R_MODEL, R_PREDICT };
enum { S_READ, S_DISCARD, S_SENT, S_QUEUED };

typedef struct req {
    pn__srv *s;
    struct MHD_Connection *conn;
    int route, state, counted_inflight, multipart, want_cam, want_image, done, suspended;
    uint8_t *body;
    size_t n, cap, budget, discarded;
    int err_status;
    char err[512];
    char ctype[256];
    pn__job job;
    float *x;
    int img_w, img_h;
    char *image_b64; /* ?image=1: the decoded image as a PNG (<= 512 px a side), base64 */
    double t0;
} req;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
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
    if (r->route == R_INDEX) {
        /* the page runs its own inline script only and talks to this server only */
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; style-src "
                                "'unsafe-inline'; img-src 'self' blob: data:; connect-src 'self'; "
                                "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
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
    pn__srv *s = r->s;
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
                                  "application/dicom, application/octet-stream or "
                                  "multipart/form-data");
    snprintf(r->ctype, sizeof r->ctype, "%s", ct);
    if (type_is(ct, "multipart/form-data")) r->multipart = 1;
    else if (!type_is(ct, "image/jpeg") && !type_is(ct, "image/png") &&
             !type_is(ct, "application/octet-stream") && !type_is(ct, "image/jpg") &&
             !type_is(ct, "application/dicom"))
        return send_error(r, 415,
                          "Content-Type %.100s is not supported: send image/jpeg, image/png, "
                          "application/dicom, application/octet-stream or multipart/form-data",
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
    r->want_image = truthy(MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "image"));
    return MHD_YES;
}

static enum MHD_Result on_upload(req *r, const char *data, size_t len)
{
    pn__srv *s = r->s;
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
    pn__srv *s = r->s;
    pthread_mutex_lock(&s->mu);
    r->done = 1;
    if (r->suspended) MHD_resume_connection(r->conn);
    pthread_mutex_unlock(&s->mu);
}

static enum MHD_Result start_predict(req *r)
{
    pn__srv *s = r->s;
    if (!r->n)
        return send_error(r, 400, "empty body: send the image (JPEG, PNG or DICOM) as the body");
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
    pn_status st = pn_image_decode(img_p, img_n, "the uploaded file", &dopt, &img, &e);
    release_body(r);
    if (!st) {
        r->img_w = img.w;
        r->img_h = img.h;
        r->x = malloc(IMG_FLOATS * sizeof(float));
        if (!r->x) st = pn_error_set(&e, PN_E_NOMEM, "out of memory");
        else st = pn_preprocess(&img, 224, r->x, NULL, NULL, &e);
        if (!st && r->want_image) st = pn__image_png_b64(&img, 512, &r->image_b64, &e);
    }
    pn_image_free(&img);
    if (st) {
        if (st == PN_E_NOMEM && strstr(e.msg, "pixel"))
            return send_error(r, 413, "%s", e.msg);
        if (st == PN_E_NOMEM) return send_error(r, 503, "%s", e.msg);
        return send_error(r, 400, "%s", e.msg);
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
    pn__srv *s = r->s;
    r->suspended = 0;
    if (r->job.st) return send_error(r, 500, "classifier failed: %s", r->job.msg);
    pn_error e = {0};
    char *j = pn__json_predict(&s->c, &s->mi, &r->job, r->img_w, r->img_h, r->image_b64, &e);
    if (!j) return send_error(r, 500, "%s", e.msg[0] ? e.msg : "out of memory");
    pthread_mutex_lock(&s->mu);
    s->served++;
    pthread_mutex_unlock(&s->mu);
    return send_json(r, 200, j);
}

enum MHD_Result pn__http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    pn__srv *s = cls;
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

void pn__http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    pn__srv *s = cls;
    req *r = *con_cls;
    if (!r) return;
    release_body(r);
    free(r->x);
    free(r->image_b64);
    pthread_mutex_lock(&s->mu);
    if (r->counted_inflight) {
        s->inflight--;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    free(r);
    *con_cls = NULL;
}
