/* pneumo serve: the server's shared state and libmicrohttpd callbacks
 * (http.c), used by run.c. Internal. */
#ifndef PNEUMO_SERVE_HTTP_H
#define PNEUMO_SERVE_HTTP_H

#include <microhttpd.h>

#include "serve/serve.h"

typedef struct pn__srv {
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
} pn__srv;


/* MHD_AccessHandlerCallback and MHD_RequestCompletedCallback; cls is the pn__srv */
enum MHD_Result pn__http_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls);
void pn__http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                        enum MHD_RequestTerminationCode toe);

#endif
