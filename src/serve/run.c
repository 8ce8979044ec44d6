/* pneumo serve: start and stop — the model, the batcher, the libmicrohttpd
 * daemon (a pool of http_threads polling threads, suspend/resume), the
 * open-file limit; SIGTERM/SIGINT: new requests get 503, those in flight
 * finish (up to drain_s), then the daemon stops. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "pneumo/util.h"
#include "serve/http.h"

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
    pn__srv *s = calloc(1, sizeof *s);
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
    st = pn_classifier_open(&s->c, o->model, o->max_batch, o->threads, o->mode, 1, err);
    if (st) goto out;
    if (pn_infer_notice(s->c.engine)[0]) fprintf(stderr, "pneumo serve: %s\n", pn_infer_notice(s->c.engine));
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
    s->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, pn__http_handler, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)o->http_threads,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)s->o.max_connections,
                            MHD_OPTION_NOTIFY_COMPLETED, pn__http_completed, s, MHD_OPTION_END);
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
