/* Benchmark helper for bench/bench_images.sh (built by that script):
 *   bench_images speed DATA exact|fast THREADS   -> "img/s N"
 *   bench_images diff  DATA                       -> fast-decode vs exact tensor diffs
 * DATA is a dataset path; all items of all splits are used. The speed run
 * goes through pn_loader (read + decode + resize + normalize, batches of 16). */
#include <math.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pneumo.h"

#define S PN_IMAGE_SIZE
#define ROW ((size_t)3 * S * S)

/* CPU seconds (user + system) used by this process so far, all threads. */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static int speed(const char *data, int fast, int threads)
{
    pn_dataset *ds;
    pn_error err = {0};
    if (pn_dataset_open(data, &ds, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    pn_decode_opts o = {.fast_decode = fast};
    const int B = 16;
    float *x = malloc(sizeof(float) * ROW * B);
    double t0 = pn_now(), c0 = cpu_seconds();
    pn_loader *l;
    if (pn_loader_create(&l, ds, PN_SPLIT_ALL, NULL, 0, B, threads, &o, 0, &err))
        return fprintf(stderr, "%s\n", err.msg), 1;
    int n;
    size_t total = 0;
    while (!pn_loader_next(l, x, NULL, NULL, &n, &err) && n > 0) total += (size_t)n;
    double dt = pn_now() - t0, dc = cpu_seconds() - c0;
    if (err.code) return fprintf(stderr, "%s\n", err.msg), 1;
    printf("%zu images %.3f s img/s %.1f cpu_s %.3f img/cpu_s %.1f\n", total, dt, total / dt, dc,
           total / dc);
    pn_loader_free(l);
    pn_dataset_free(ds);
    free(x);
    return 0;
}

static int diff(const char *data)
{
    pn_dataset *ds;
    pn_error err = {0};
    if (pn_dataset_open(data, &ds, &err)) return fprintf(stderr, "%s\n", err.msg), 1;
    pn_decode_opts fast = {.fast_decode = 1};
    pn_image a = {0}, b = {0};
    float *x = malloc(sizeof(float) * ROW), *y = malloc(sizeof(float) * ROW);
    uint8_t *ua = malloc(ROW), *ub = malloc(ROW);
    double maxd = 0, sumd = 0, sum_img_max = 0;
    int maxu = 0;
    size_t n = pn_dataset_count(ds, PN_SPLIT_ALL), same = 0, scaled = 0;
    const char *worst = "";
    for (size_t i = 0; i < n; i++) {
        const pn_item *it = pn_dataset_item(ds, PN_SPLIT_ALL, i);
        if (pn_dataset_load_image(ds, it, NULL, &a, &err) ||
            pn_dataset_load_image(ds, it, &fast, &b, &err) ||
            pn_preprocess(&a, S, x, ua, NULL, &err) || pn_preprocess(&b, S, y, ub, NULL, &err))
            return fprintf(stderr, "%s\n", err.msg), 1;
        scaled += b.w != a.w;
        double m = 0;
        int mu = 0;
        for (size_t k = 0; k < ROW; k++) {
            double d = fabs((double)x[k] - y[k]);
            sumd += d;
            if (d > m) m = d;
            int du = abs((int)ua[k] - (int)ub[k]);
            if (du > mu) mu = du;
        }
        same += m == 0;
        sum_img_max += m;
        if (m > maxd) {
            maxd = m;
            worst = it->name;
        }
        if (mu > maxu) maxu = mu;
    }
    printf("fast-decode vs exact over %zu images (%zu DCT-scaled, %zu identical):\n", n, scaled,
           same);
    printf("  tensor max |diff| %.4f (worst %s), mean of per-image max %.4f, mean |diff| %.5f\n",
           maxd, worst, sum_img_max / n, sumd / ((double)n * ROW));
    printf("  uint8 after resize: max |diff| %d grey levels\n", maxu);
    pn_image_free(&a);
    pn_image_free(&b);
    free(x), free(y), free(ua), free(ub);
    pn_dataset_free(ds);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "speed"))
        return speed(argv[2], !strcmp(argv[3], "fast"), atoi(argv[4]));
    if (argc == 3 && !strcmp(argv[1], "diff")) return diff(argv[2]);
    fprintf(stderr, "usage: bench_images speed DATA exact|fast THREADS | diff DATA\n");
    return 2;
}
