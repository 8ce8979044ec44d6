/* bench/bench_scaling.sh: MPI_Allreduce (sum, in place) of N floats, the
 * size of one data-parallel step's gradient bucket; prints the mean and the
 * best milliseconds per call over ITERS calls after 3 warm-ups, and the bus
 * bandwidth 2 (p-1)/p * bytes / time of a ring allreduce.
 * usage: mpi_allreduce N ITERS */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    long n = argc > 1 ? atol(argv[1]) : 8394754;
    int iters = argc > 2 ? atoi(argv[2]) : 10;
    float *x = malloc((size_t)n * sizeof *x);
    if (!x) MPI_Abort(MPI_COMM_WORLD, 1);
    for (long i = 0; i < n; i++) x[i] = (float)(i % 7) * 1e-3f;
    double sum = 0, best = 1e30;
    for (int it = -3; it < iters; it++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        double t = MPI_Wtime() - t0, tmax;
        MPI_Allreduce(&t, &tmax, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        for (long i = 0; i < n; i++) x[i] *= 1.0f / (float)size; /* keep values bounded */
        if (it < 0) continue;
        sum += tmax;
        if (tmax < best) best = tmax;
    }
    if (rank == 0) {
        double mb = (double)n * 4 / 1e6, mean = sum / iters;
        printf("allreduce %.2f MB over %d ranks: mean %.2f ms, best %.2f ms, bus %.2f Gbit/s\n", mb,
               size, 1e3 * mean, 1e3 * best,
               2.0 * (size - 1) / size * mb * 8 / 1e3 / best);
    }
    free(x);
    MPI_Finalize();
    return 0;
}
