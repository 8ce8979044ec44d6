/* Internal: the one communication layer between pneumo processes (Open MPI,
 * MPI_COMM_WORLD). Built with MPI (make MPI=1, or autodetected through
 * pkg-config ompi-c) it talks MPI; built without, the same calls are the
 * single-process identities (rank 0 of 1), so callers never #ifdef.
 *
 * MPI is only initialised when the process was started by a launcher
 * (mpirun/mpiexec: OMPI_COMM_WORLD_SIZE; srun: PMIX_RANK or PMI_RANK/SIZE;
 * PNEUMO_MPI=1 forces it, PNEUMO_MPI=0 forbids it): a build with MPI run
 * by hand is a plain single process and never touches MPI.
 *
 * Every collective below must be called by every rank in the same order.
 * Communication failures are fatal to the whole job (MPI_ERRORS_ARE_FATAL);
 * a rank that fails on its own calls pn__dist_fail, which ends every rank
 * with a message naming the rank, its host and the reason. */
#ifndef PNEUMO_DIST_H
#define PNEUMO_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "pneumo/status.h"

/* Starts MPI when launched by mpirun/srun (see above); call once from
 * main(). Returns 0, or non-zero (message on stderr) when MPI was wanted
 * but could not start. */
int pn__dist_init(int *argc, char ***argv);
/* MPI_Finalize when pn__dist_init started MPI (idempotent). */
void pn__dist_finalize(void);

int pn__dist_rank(void);        /* 0 without MPI */
int pn__dist_size(void);        /* 1 without MPI */
int pn__dist_local_size(void);  /* ranks on this host (1 without MPI) */
const char *pn__dist_host(void); /* this host's name */
int pn__dist_compiled(void);    /* 1 when built with MPI */
/* "Open MPI v4.1.4, ..." or "none" */
const char *pn__dist_library(void);

/* The contiguous, deterministic share [*lo, *hi) of n items that rank r of
 * size ranks takes: the first n % size ranks get one item more. */
void pn__dist_share(size_t n, int r, int size, size_t *lo, size_t *hi);

/* buf holds n rows of row_bytes; this rank has filled the rows of its
 * pn__dist_share. Afterwards every rank (allgather) or rank root (gather)
 * holds all n rows. */
pn_status pn__dist_allgather_rows(void *buf, size_t n, size_t row_bytes, pn_error *err);
pn_status pn__dist_gather_rows(void *buf, size_t n, size_t row_bytes, int root, pn_error *err);

/* Variable-length contributions: each rank gives `bytes` bytes at `mine`;
 * on root *out gets the concatenation in rank order (malloc'ed, *out_bytes
 * its length); on the others *out = NULL. */
pn_status pn__dist_gatherv_bytes(const void *mine, size_t bytes, int root, void **out,
                                 size_t *out_bytes, pn_error *err);

/* In-place sums over all ranks (every rank gets the result). */
pn_status pn__dist_allreduce_f32(float *x, size_t n, pn_error *err);
pn_status pn__dist_allreduce_f64(double *x, size_t n, pn_error *err);
pn_status pn__dist_allreduce_u64(uint64_t *x, size_t n, pn_error *err);
/* In-place maximum of ints. */
pn_status pn__dist_allreduce_max_int(int *x, size_t n, pn_error *err);

/* root's bytes -> every rank. */
pn_status pn__dist_bcast(void *buf, size_t bytes, int root, pn_error *err);
pn_status pn__dist_barrier(pn_error *err);

/* Collective agreement on failure: every rank passes its own status; all
 * get PN_OK when every rank succeeded. When some rank failed, that rank
 * keeps its own error and the others get PN_E_BACKEND "rank R on HOST
 * failed" (so every rank returns, none waits in a later collective). */
pn_status pn__dist_agree(pn_status mine, pn_error *err);

/* Ends the whole job: prints "pneumo<what>: rank R of N on HOST: msg" on
 * stderr and calls MPI_Abort(code); without MPI (or one rank), prints
 * "pneumo<what>: msg" and exits with code. */
_Noreturn void pn__dist_fail(const char *what, int code, const char *msg);

/* A command that ran every collective to its end and returns a non-zero
 * exit status as its result (predict: some images were unreadable) marks
 * it so; main() then finalises normally instead of ending the job. */
void pn__dist_mark_finished(void);
int pn__dist_finished(void);

/* Seconds spent inside the collectives above since the start (wall). */
double pn__dist_comm_seconds(void);
/* Bytes this rank passed to the collectives above (sent side). */
uint64_t pn__dist_comm_bytes(void);

#endif
