/* The communication layer: Open MPI when built with PN_HAVE_MPI, otherwise
 * the single-process identities. See dist.h. */
#include "dist/dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pneumo/util.h"

#ifdef PN_HAVE_MPI
#include <mpi.h>
#endif

static int g_on, g_rank, g_size = 1, g_local = 1;
static char g_host[256];
static double g_comm_s;
static uint64_t g_comm_bytes;

void pn__dist_share(size_t n, int r, int size, size_t *lo, size_t *hi)
{
    if (size < 1) size = 1;
    size_t q = n / (size_t)size, rem = n % (size_t)size, ur = (size_t)r;
    *lo = ur * q + (ur < rem ? ur : rem);
    *hi = *lo + q + (ur < rem ? 1 : 0);
}

static int g_finished;
void pn__dist_mark_finished(void) { g_finished = 1; }
int pn__dist_finished(void) { return g_finished; }

int pn__dist_rank(void) { return g_rank; }
int pn__dist_size(void) { return g_size; }
int pn__dist_local_size(void) { return g_local; }
double pn__dist_comm_seconds(void) { return g_comm_s; }
uint64_t pn__dist_comm_bytes(void) { return g_comm_bytes; }

const char *pn__dist_host(void)
{
    if (!g_host[0] && gethostname(g_host, sizeof g_host - 1)) snprintf(g_host, sizeof g_host, "?");
    return g_host;
}

/* env says a launcher started us (or PNEUMO_MPI forces / forbids) */
static int launched(void)
{
    const char *f = getenv("PNEUMO_MPI");
    if (f && *f) return strcmp(f, "0") != 0;
    static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

_Noreturn void pn__dist_fail(const char *what, int code, const char *msg)
{
    if (code == 0) code = 1;
    if (g_size > 1)
        fprintf(stderr, "pneumo%s: rank %d of %d on %s: %s\n", what ? what : "", g_rank, g_size,
                pn__dist_host(), msg);
    else fprintf(stderr, "pneumo%s: %s\n", what ? what : "", msg);
    fflush(stderr);
#ifdef PN_HAVE_MPI
    if (g_on) MPI_Abort(MPI_COMM_WORLD, code);
#else
    (void)g_on;
#endif
    exit(code);
}

#ifdef PN_HAVE_MPI

static double g_t0;
/* PNEUMO_MPI_STATS=1: per-kind counts printed by each rank at the end */
enum { K_GATHER, K_ALLREDUCE, K_BCAST, K_N };
static struct { uint64_t calls, bytes; double s; } g_kind[K_N];
static void account(int kind, uint64_t bytes, double s)
{
    g_kind[kind].calls++;
    g_kind[kind].bytes += bytes;
    g_kind[kind].s += s;
    g_comm_bytes += bytes;
    g_comm_s += s;
}

int pn__dist_compiled(void) { return 1; }

const char *pn__dist_library(void)
{
    static char v[MPI_MAX_LIBRARY_VERSION_STRING + 1];
    if (!v[0]) {
        int len = 0;
        MPI_Get_library_version(v, &len);
        char *nl = strpbrk(v, ",\n");
        if (nl) *nl = 0;
    }
    return v;
}

int pn__dist_init(int *argc, char ***argv)
{
    if (g_on || !launched()) return 0;
    int prov = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &prov) != MPI_SUCCESS) {
        fprintf(stderr, "pneumo: MPI_Init failed\n");
        return 1;
    }
    g_on = 1;
    g_t0 = pn_now();
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &g_local);
        MPI_Comm_free(&local);
    }
    pn__dist_host();
    return 0;
}

void pn__dist_finalize(void)
{
    if (!g_on) return;
    const char *stats = getenv("PNEUMO_MPI_STATS");
    if (stats && !strcmp(stats, "1")) {
        static const char *names[K_N] = {"gather", "allreduce", "bcast"};
        char line[512];
        int k = snprintf(line, sizeof line, "pneumo: rank %d of %d on %s: %.3f s, in collectives %.3f s:",
                         g_rank, g_size, pn__dist_host(), pn_now() - g_t0, g_comm_s);
        for (int i = 0; i < K_N && k < (int)sizeof line; i++)
            k += snprintf(line + k, sizeof line - (size_t)k, " %s %llu calls %.3f s %.3f MB%s",
                          names[i], (unsigned long long)g_kind[i].calls, g_kind[i].s,
                          (double)g_kind[i].bytes / 1e6, i + 1 < K_N ? "," : "");
        fprintf(stderr, "%s\n", line);
    }
    g_on = 0;
    MPI_Finalize();
}

static pn_status toolarge(pn_error *err, const char *what)
{
    return pn_error_set(err, PN_E_ARG, "MPI %s: more than 2^31 elements in one call", what);
}

/* counts/displacements in rows for the shares of n rows */
static pn_status shares(size_t n, int **counts, int **displs, pn_error *err)
{
    *counts = malloc((size_t)g_size * sizeof **counts);
    *displs = malloc((size_t)g_size * sizeof **displs);
    if (!*counts || !*displs) {
        free(*counts);
        free(*displs);
        return pn_error_set(err, PN_E_NOMEM, "MPI: out of memory");
    }
    if (n > INT_MAX) return toolarge(err, "gather");
    for (int r = 0; r < g_size; r++) {
        size_t lo, hi;
        pn__dist_share(n, r, g_size, &lo, &hi);
        (*counts)[r] = (int)(hi - lo);
        (*displs)[r] = (int)lo;
    }
    return PN_OK;
}

static pn_status rows(void *buf, size_t n, size_t row_bytes, int root, int all, pn_error *err)
{
    if (!g_on || g_size == 1 || n == 0) return PN_OK;
    if (row_bytes > INT_MAX) return toolarge(err, "gather rows");
    int *counts, *displs;
    PN_TRY(shares(n, &counts, &displs, err));
    double t0 = pn_now();
    MPI_Datatype row;
    MPI_Type_contiguous((int)row_bytes, MPI_BYTE, &row);
    MPI_Type_commit(&row);
    int rc;
    char *mine = (char *)buf + (size_t)displs[g_rank] * row_bytes;
    if (all)
        rc = MPI_Allgatherv(MPI_IN_PLACE, 0, row, buf, counts, displs, row, MPI_COMM_WORLD);
    else if (g_rank == root)
        rc = MPI_Gatherv(MPI_IN_PLACE, 0, row, buf, counts, displs, row, root, MPI_COMM_WORLD);
    else
        rc = MPI_Gatherv(mine, counts[g_rank], row, NULL, NULL, NULL, row, root, MPI_COMM_WORLD);
    uint64_t sent = (uint64_t)counts[g_rank] * row_bytes;
    MPI_Type_free(&row);
    free(counts);
    free(displs);
    account(K_GATHER, sent, pn_now() - t0);
    return rc == MPI_SUCCESS ? PN_OK : pn_error_set(err, PN_E_BACKEND, "MPI gather failed");
}

pn_status pn__dist_allgather_rows(void *buf, size_t n, size_t row_bytes, pn_error *err)
{
    return rows(buf, n, row_bytes, 0, 1, err);
}

pn_status pn__dist_gather_rows(void *buf, size_t n, size_t row_bytes, int root, pn_error *err)
{
    return rows(buf, n, row_bytes, root, 0, err);
}

pn_status pn__dist_gatherv_bytes(const void *mine, size_t bytes, int root, void **out,
                                 size_t *out_bytes, pn_error *err)
{
    *out = NULL;
    *out_bytes = 0;
    if (!g_on || g_size == 1) {
        char *c = malloc(bytes ? bytes : 1);
        if (!c) return pn_error_set(err, PN_E_NOMEM, "gather: out of memory");
        if (bytes) memcpy(c, mine, bytes);
        *out = c;
        *out_bytes = bytes;
        return PN_OK;
    }
    if (bytes > INT_MAX) return toolarge(err, "gatherv");
    double t0 = pn_now();
    int mb = (int)bytes, *counts = NULL, *displs = NULL;
    char *all = NULL;
    pn_status st = PN_OK;
    if (g_rank == root) {
        counts = malloc((size_t)g_size * sizeof *counts);
        displs = malloc((size_t)g_size * sizeof *displs);
        if (!counts || !displs) st = pn_error_set(err, PN_E_NOMEM, "gather: out of memory");
    }
    /* the sizes first (a failed malloc on root still takes part) */
    MPI_Gather(&mb, 1, MPI_INT, counts, 1, MPI_INT, root, MPI_COMM_WORLD);
    size_t total = 0;
    if (g_rank == root && !st) {
        for (int r = 0; r < g_size; r++) {
            displs[r] = (int)total;
            total += (size_t)counts[r];
        }
        if (total > INT_MAX) st = toolarge(err, "gatherv");
        else if (!(all = malloc(total ? total : 1)))
            st = pn_error_set(err, PN_E_NOMEM, "gather: out of memory");
    }
    int bad = st != PN_OK;
    MPI_Bcast(&bad, 1, MPI_INT, root, MPI_COMM_WORLD);
    if (!bad) MPI_Gatherv(mine, mb, MPI_BYTE, all, counts, displs, MPI_BYTE, root, MPI_COMM_WORLD);
    else if (!st) st = pn_error_set(err, PN_E_NOMEM, "gather: out of memory on rank %d", root);
    free(counts);
    free(displs);
    account(K_GATHER, bad ? 0 : bytes, pn_now() - t0);
    if (st) {
        free(all);
        return st;
    }
    if (g_rank == root) {
        *out = all;
        *out_bytes = total;
    }
    return PN_OK;
}

static pn_status reduce(void *x, size_t n, MPI_Datatype t, size_t esize, MPI_Op op, pn_error *err)
{
    if (!g_on || g_size == 1 || n == 0) return PN_OK;
    double t0 = pn_now();
    int rc = MPI_SUCCESS;
    for (size_t i = 0; i < n && rc == MPI_SUCCESS;) { /* chunks below 2^31 elements */
        size_t k = n - i < (size_t)INT_MAX ? n - i : (size_t)INT_MAX;
        rc = MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * esize, (int)k, t, op, MPI_COMM_WORLD);
        i += k;
    }
    account(K_ALLREDUCE, n * esize, pn_now() - t0);
    return rc == MPI_SUCCESS ? PN_OK : pn_error_set(err, PN_E_BACKEND, "MPI_Allreduce failed");
}

pn_status pn__dist_allreduce_f32(float *x, size_t n, pn_error *err)
{
    return reduce(x, n, MPI_FLOAT, sizeof *x, MPI_SUM, err);
}
pn_status pn__dist_allreduce_f64(double *x, size_t n, pn_error *err)
{
    return reduce(x, n, MPI_DOUBLE, sizeof *x, MPI_SUM, err);
}
pn_status pn__dist_allreduce_u64(uint64_t *x, size_t n, pn_error *err)
{
    return reduce(x, n, MPI_UINT64_T, sizeof *x, MPI_SUM, err);
}
pn_status pn__dist_allreduce_max_int(int *x, size_t n, pn_error *err)
{
    return reduce(x, n, MPI_INT, sizeof *x, MPI_MAX, err);
}

pn_status pn__dist_bcast(void *buf, size_t bytes, int root, pn_error *err)
{
    if (!g_on || g_size == 1 || bytes == 0) return PN_OK;
    if (bytes > INT_MAX) return toolarge(err, "bcast");
    double t0 = pn_now();
    int rc = MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
    account(K_BCAST, g_rank == root ? bytes : 0, pn_now() - t0);
    return rc == MPI_SUCCESS ? PN_OK : pn_error_set(err, PN_E_BACKEND, "MPI_Bcast failed");
}

pn_status pn__dist_barrier(pn_error *err)
{
    if (!g_on || g_size == 1) return PN_OK;
    return MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS
               ? PN_OK
               : pn_error_set(err, PN_E_BACKEND, "MPI_Barrier failed");
}

#else /* ---- without MPI: one process ---------------------------------------- */

int pn__dist_compiled(void) { return 0; }
const char *pn__dist_library(void) { return "none"; }

int pn__dist_init(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (launched() && getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1) {
        fprintf(stderr, "pneumo: started by mpirun with %s ranks, but this pneumo was built "
                        "without MPI (rebuild with make MPI=1)\n",
                getenv("OMPI_COMM_WORLD_SIZE"));
        return 1;
    }
    return 0;
}
void pn__dist_finalize(void) {}

pn_status pn__dist_allgather_rows(void *buf, size_t n, size_t row_bytes, pn_error *err)
{
    (void)buf, (void)n, (void)row_bytes, (void)err;
    return PN_OK;
}
pn_status pn__dist_gather_rows(void *buf, size_t n, size_t row_bytes, int root, pn_error *err)
{
    (void)buf, (void)n, (void)row_bytes, (void)root, (void)err;
    return PN_OK;
}
pn_status pn__dist_gatherv_bytes(const void *mine, size_t bytes, int root, void **out,
                                 size_t *out_bytes, pn_error *err)
{
    (void)root;
    char *c = malloc(bytes ? bytes : 1);
    *out = c;
    *out_bytes = c ? bytes : 0;
    if (!c) return pn_error_set(err, PN_E_NOMEM, "gather: out of memory");
    if (bytes) memcpy(c, mine, bytes);
    return PN_OK;
}
pn_status pn__dist_allreduce_f32(float *x, size_t n, pn_error *err)
{
    (void)x, (void)n, (void)err;
    return PN_OK;
}
pn_status pn__dist_allreduce_f64(double *x, size_t n, pn_error *err)
{
    (void)x, (void)n, (void)err;
    return PN_OK;
}
pn_status pn__dist_allreduce_u64(uint64_t *x, size_t n, pn_error *err)
{
    (void)x, (void)n, (void)err;
    return PN_OK;
}
pn_status pn__dist_allreduce_max_int(int *x, size_t n, pn_error *err)
{
    (void)x, (void)n, (void)err;
    return PN_OK;
}
pn_status pn__dist_bcast(void *buf, size_t bytes, int root, pn_error *err)
{
    (void)buf, (void)bytes, (void)root, (void)err;
    return PN_OK;
}
pn_status pn__dist_barrier(pn_error *err)
{
    (void)err;
    return PN_OK;
}
#endif

pn_status pn__dist_agree(pn_status mine, pn_error *err)
{
    if (g_size == 1) return mine;
    /* the lowest failing rank: max over (size - rank) */
    int w = mine ? g_size - g_rank : 0;
    pn_error e2 = {0};
    if (pn__dist_allreduce_max_int(&w, 1, &e2)) pn__dist_fail("", 1, e2.msg);
    if (w == 0) return PN_OK;
    if (mine) return mine;
    int who = g_size - w;
    return pn_error_set(err, PN_E_BACKEND, "rank %d failed (its message is on stderr)", who);
}
